#!/bin/bash
# Brings up a small but real OpenStack (Zed, from Debian 12's packages) on
# 127.0.0.1 for infrabot's real-cloud test lane:
#
#   MariaDB, RabbitMQ, Keystone, Placement, Glance, Neutron server (ML2, no
#   agents) and Nova (api, conductor, scheduler, compute with the fake driver).
#
# No systemd and no /etc: every config, database, log and pid file lives in
# the state directory, which is kept between runs so that a second run only
# starts the services (~30 s) instead of installing and initialising (~3 min).
#
# What the tests get (all written into the state directory):
#   clouds.yaml   clouds "infrabot-demo" (non-admin user demo, project demo)
#                 and "infrabot-admin" (admin, project admin, for quotas)
#   test.env      shell exports: OS_* for the demo user, INFRABOT_OS_* naming
#                 the clouds.yaml and its demo and admin clouds
# Seeded: flavors m1.tiny, m1.small, m1.medium and x1.impossible (more RAM
# than any host has: a server with it goes to ERROR "No valid host was
# found"), images cirros-0.6 and centos-stream-9 (tiny fake files), network
# "private" with a subnet owned by demo, demo quota of 50 instances.
#
# Idempotent: re-running skips whatever is installed, initialised or running.
# Usage (as root): bash scripts/openstack/setup.sh
# Env: INFRABOT_OS_STATE     state directory (default /var/tmp/infrabot-openstack)
#      INFRABOT_OS_PASSWORD  password of every user and service (default below;
#                            a throw-away cloud on loopback, not a secret)
#
# The traps this works around are numbered as in shared/openstack/NOTES.md
# ("trap N") where they first matter.
set -euo pipefail

STATE=${INFRABOT_OS_STATE:-/var/tmp/infrabot-openstack}
PASS=${INFRABOT_OS_PASSWORD:-infrabot-lane}
HOST=127.0.0.1
KS=http://$HOST:5000/v3
RABBIT_URL="rabbit://guest:guest@$HOST:5672/"
PY=/usr/bin/python3 # trap 3: never a pyenv/venv shim, the libraries are Debian's
PKGS="python3-keystone python3-nova python3-placement python3-glance python3-neutron
      uwsgi-core uwsgi-plugin-python3 rabbitmq-server mariadb-server python3-pymysql curl"

T0=$(date +%s.%N)
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }
say() { echo "[setup $(since "$T0")s] $*"; }
die() { echo "setup: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (installs packages and runs services)"
mkdir -p "$STATE"/{etc,log,run,bin,py,db}
cd "$STATE"

# ------------------------------------------------------------------ install
# Only the python3-* library packages: the service packages (keystone,
# nova-compute, …) pull in systemd, libvirt and qemu and ask debconf
# questions (trap 1). We write the configs and launchers ourselves.
phase=$(date +%s.%N)
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  say "installing:$missing (log: $STATE/log/apt.log)"
  # trap 2: postinst scripts would try to start rabbitmq and mariadb
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_rc=0
  {
    apt-get update -q &&
      apt-get install -y -q --no-install-recommends \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold $missing
  } >"$STATE/log/apt.log" 2>&1 </dev/null || apt_rc=$?
  # removed also when apt fails: left behind, it stops every later package's
  # service from starting on this machine
  [ $own_policy = 1 ] && rm -f /usr/sbin/policy-rc.d
  [ $apt_rc = 0 ] || { tail -20 "$STATE/log/apt.log" >&2; die "apt-get failed"; }
  say "phase install: $(since "$phase")s"
else
  say "packages already installed"
fi

# ------------------------------------------------------------------ config
# trap 4: every service finds its config through an env var or --config-file.
dburl() { echo "mysql+pymysql://os:$PASS@$HOST/$1?charset=utf8"; }
# keystone_authtoken / placement / neutron client sections share these lines
KA="auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
region_name = RegionOne
password = $PASS"

mkdir -p etc/keystone etc/placement etc/glance etc/neutron etc/nova \
  keystone/fernet-keys keystone/credential-keys glance/images glance/staging glance/tasks glance/lock \
  neutron/lock nova/instances nova/lock

cat >etc/keystone/keystone.conf <<EOF
[DEFAULT]
log_file = $STATE/log/keystone.log
[database]
connection = $(dburl keystone)
[token]
provider = fernet
[fernet_tokens]
key_repository = $STATE/keystone/fernet-keys
[fernet_receipts]
key_repository = $STATE/keystone/fernet-keys
[credential]
key_repository = $STATE/keystone/credential-keys
EOF

cat >etc/placement/placement.conf <<EOF
[DEFAULT]
log_file = $STATE/log/placement.log
[placement_database]
connection = $(dburl placement)
[api]
auth_strategy = keystone
[keystone_authtoken]
www_authenticate_uri = http://$HOST:5000
username = placement
$KA
EOF

cat >etc/glance/glance-api.conf <<EOF
[DEFAULT]
bind_host = $HOST
bind_port = 9292
workers = 0
log_file = $STATE/log/glance-api.log
enabled_backends = fs:file
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $STATE/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $STATE/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $STATE/glance/tasks
[database]
connection = $(dburl glance)
[paste_deploy]
flavor = keystone
config_file = $STATE/etc/glance/glance-api-paste.ini
[keystone_authtoken]
www_authenticate_uri = http://$HOST:5000
username = glance
$KA
[oslo_concurrency]
lock_path = $STATE/glance/lock
EOF
# paste pipelines, trimmed from Debian's glance-common
cat >etc/glance/glance-api-paste.ini <<'EOF'
[pipeline:glance-api-keystone]
pipeline = cors healthcheck http_proxy_to_wsgi versionnegotiation authtoken context rootapp
[composite:rootapp]
paste.composite_factory = glance.api:root_app_factory
/: apiversions
/v2: apiv2app
[app:apiversions]
paste.app_factory = glance.api.versions:create_resource
[app:apiv2app]
paste.app_factory = glance.api.v2.router:API.factory
[filter:healthcheck]
paste.filter_factory = oslo_middleware:Healthcheck.factory
[filter:versionnegotiation]
paste.filter_factory = glance.api.middleware.version_negotiation:VersionNegotiationFilter.factory
[filter:context]
paste.filter_factory = glance.api.middleware.context:ContextMiddleware.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
delay_auth_decision = true
[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = glance
oslo_config_program = glance-api
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware:HTTPProxyToWSGI.factory
EOF

# trap 6: neutron cannot be left out (nova's server show and delete call it).
# ML2 with one mechanism driver of ours that binds every port (there is no
# dataplane and no agent; see bin/neutron-server and py/ below).
cat >etc/neutron/neutron.conf <<EOF
[DEFAULT]
bind_host = $HOST
bind_port = 9696
core_plugin = ml2
# 'router' only so that the port-forwarding model is imported (trap 8); no L3 agent runs
service_plugins = router
auth_strategy = keystone
transport_url = $RABBIT_URL
# no DHCP agent: do not try to schedule networks to one on every port change
# (it costs seconds per port under load)
dhcp_agent_notification = false
# port create/update/delete are CPU-bound python: with one worker, 10
# parallel server builds took ~30 s, with two ~15-20 s (2 cores)
api_workers = 2
rpc_workers = 0
rpc_state_report_workers = 0
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
api_paste_config = $STATE/etc/neutron/api-paste.ini
state_path = $STATE/neutron
log_file = $STATE/log/neutron-server.log
[database]
connection = $(dburl neutron)
[keystone_authtoken]
www_authenticate_uri = http://$HOST:5000
username = neutron
$KA
[oslo_concurrency]
lock_path = $STATE/neutron/lock
[ml2]
type_drivers = local,flat
tenant_network_types = local
mechanism_drivers = infrabot_bindall
extension_drivers = port_security
[securitygroup]
firewall_driver = noop
EOF
cat >etc/neutron/api-paste.ini <<'EOF'
[composite:neutron]
use = egg:Paste#urlmap
/: neutronversions_composite
/v2.0: neutronapi_v2_0
[composite:neutronapi_v2_0]
use = call:neutron.auth:pipeline_factory
keystone = cors http_proxy_to_wsgi request_id catch_errors authtoken keystonecontext extensions neutronapiapp_v2_0
[composite:neutronversions_composite]
use = call:neutron.auth:pipeline_factory
keystone = cors http_proxy_to_wsgi neutronversions
[filter:request_id]
paste.filter_factory = oslo_middleware:RequestId.factory
[filter:catch_errors]
paste.filter_factory = oslo_middleware:CatchErrors.factory
[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = neutron
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory
[filter:keystonecontext]
paste.filter_factory = neutron.auth:NeutronKeystoneContext.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
[filter:extensions]
paste.filter_factory = neutron.api.extensions:plugin_aware_extension_middleware_factory
[app:neutronversions]
paste.app_factory = neutron.pecan_wsgi.app:versions_factory
[app:neutronapiapp_v2_0]
paste.app_factory = neutron.api.v2.router:APIRouter.factory
EOF

cat >etc/nova/nova.conf <<EOF
[DEFAULT]
transport_url = $RABBIT_URL
compute_driver = fake.FakeDriver
host = fakecompute1
my_ip = $HOST
state_path = $STATE/nova
instances_path = $STATE/nova/instances
osapi_compute_workers = 1
metadata_workers = 1
use_rootwrap_daemon = false
# heartbeats every 2 s (default 10): setup waits for a fresh one (trap 14)
report_interval = 2
[api]
auth_strategy = keystone
[api_database]
connection = $(dburl nova_api)
[database]
connection = $(dburl nova)
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 5
[wsgi]
api_paste_config = $STATE/etc/nova/api-paste.ini
[oslo_concurrency]
lock_path = $STATE/nova/lock
[keystone_authtoken]
www_authenticate_uri = http://$HOST:5000
username = nova
$KA
[placement]
username = placement
$KA
[glance]
region_name = RegionOne
[neutron]
username = nova
$KA
[service_user]
send_service_user_token = false
[vnc]
enabled = false
[cinder]
os_region_name = RegionOne
EOF
cat >etc/nova/api-paste.ini <<'EOF'
[composite:osapi_compute]
use = call:nova.api.openstack.urlmap:urlmap_factory
/: oscomputeversions
/v2.1: oscomputeversion_v2
/v2.1/+: openstack_compute_api_v21
[composite:openstack_compute_api_v21]
use = call:nova.api.auth:pipeline_factory_v21
keystone = cors http_proxy_to_wsgi compute_req_id faultwrap request_log sizelimit authtoken keystonecontext osapi_compute_app_v21
[filter:request_log]
paste.filter_factory = nova.api.openstack.requestlog:RequestLog.factory
[filter:compute_req_id]
paste.filter_factory = nova.api.compute_req_id:ComputeReqIdMiddleware.factory
[filter:faultwrap]
paste.filter_factory = nova.api.openstack:FaultWrapper.factory
[filter:sizelimit]
paste.filter_factory = oslo_middleware:RequestBodySizeLimiter.factory
[filter:http_proxy_to_wsgi]
paste.filter_factory = oslo_middleware.http_proxy_to_wsgi:HTTPProxyToWSGI.factory
[app:osapi_compute_app_v21]
paste.app_factory = nova.api.openstack.compute:APIRouterV21.factory
[pipeline:oscomputeversions]
pipeline = cors faultwrap request_log http_proxy_to_wsgi oscomputeversionapp
[pipeline:oscomputeversion_v2]
pipeline = cors compute_req_id faultwrap request_log http_proxy_to_wsgi oscomputeversionapp_v2
[app:oscomputeversionapp]
paste.app_factory = nova.api.openstack.compute.versions:Versions.factory
[app:oscomputeversionapp_v2]
paste.app_factory = nova.api.openstack.compute.versions:VersionsV2.factory
[filter:cors]
paste.filter_factory = oslo_middleware.cors:filter_factory
oslo_config_project = nova
[filter:keystonecontext]
paste.filter_factory = nova.api.auth:NovaKeystoneContext.factory
[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
EOF

# trap 3: the python3-* packages ship no /usr/bin entry points; tiny launchers
launcher() { printf '#!%s\nimport sys\nfrom %s import main\nsys.exit(main())\n' "$PY" "$2" >"bin/$1"; chmod +x "bin/$1"; }
launcher nova-manage nova.cmd.manage
launcher nova-conductor nova.cmd.conductor
launcher nova-scheduler nova.cmd.scheduler
launcher nova-compute nova.cmd.compute
launcher glance-api glance.cmd.api
launcher glance-manage glance.cmd.manage
launcher neutron-db-manage neutron.db.migration.cli
printf 'from keystone.server.wsgi import initialize_public_application\napplication = initialize_public_application()\n' >bin/keystone.wsgi
printf 'from placement.wsgi import init_application\napplication = init_application()\n' >bin/placement.wsgi
printf 'from nova.api.openstack.compute.wsgi import init_application\napplication = init_application()\n' >bin/nova-api.wsgi
cat >bin/neutron-server <<EOF
#!$PY
import sys
sys.path.insert(0, "$STATE/py")  # our ML2 mechanism driver (infrabot_bindall)
import neutron.cmd.eventlet  # eventlet monkey patching comes first
# trap 8 (Debian neutron 21.0.0-7+deb12u1): GET /v2.0/ports reads the backref
# Port.port_forwardings before SQLAlchemy configured the mappers -> HTTP 500.
# Import every model and configure the mappers before the workers fork.
from neutron.db.migration.models import head  # noqa: F401
import sqlalchemy.orm
sqlalchemy.orm.configure_mappers()
from neutron.cmd.eventlet.server import main
sys.exit(main())
EOF
chmod +x bin/neutron-server

# ML2 mechanism driver binding every port to every host. Without one, port
# binding fails, nova-compute raises PortBindingFailed and servers on a
# network go to ERROR. stevedore finds it through the entry point below.
cat >py/infrabot_bindall.py <<'EOF'
"""ML2 mechanism driver for infrabot's test cloud: binds every port.

There is no dataplane (nova runs the fake virt driver), so binding only has
to succeed for nova to consider the port plugged.
"""
from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OTHER, {},
                                status="ACTIVE")
            return
EOF
mkdir -p py/infrabot_bindall-1.0.dist-info
printf 'Metadata-Version: 2.1\nName: infrabot-bindall\nVersion: 1.0\n' >py/infrabot_bindall-1.0.dist-info/METADATA
printf '[neutron.ml2.mechanism_drivers]\ninfrabot_bindall = infrabot_bindall:BindAllMechanismDriver\n' \
  >py/infrabot_bindall-1.0.dist-info/entry_points.txt
say "config written"

# ------------------------------------------------------------------ helpers
alive() { [ -f "run/$1.pid" ] && kill -0 "$(cat "run/$1.pid")" 2>/dev/null; }
wait_http() { # url name seconds
  local i
  for ((i = 0; i < $3 * 5; i++)); do
    curl -s -o /dev/null -m 2 "$1" && return 0
    sleep 0.2
  done
  die "timeout waiting for $2 ($1); see $STATE/log/"
}
# uwsgi: --die-on-term so TERM to the master stops its workers (trap 15);
# "Connection: close" because uwsgi's http-socket drops keep-alive
# connections silently and clients then see resets (trap 9).
start_uwsgi() { # name port wsgi-file env processes
  alive "$1" && return 0
  uwsgi --plugins python3 --http-socket "$HOST:$2" --wsgi-file "$3" --env "$4" \
    --master --processes "$5" --threads 1 --enable-threads --lazy-apps --die-on-term \
    --buffer-size 65535 --need-app --add-header "Connection: close" --pidfile "$STATE/run/$1.pid" \
    --daemonize "$STATE/log/$1-uwsgi.log" --procname-prefix "infrabot-os-"
  local i
  for ((i = 0; i < 50; i++)); do alive "$1" && return 0; sleep 0.1; done
  die "$1 did not start; see $STATE/log/$1-uwsgi.log"
}
# python services run in their own session: stop.sh kills the whole group
start_py() { # name cmd...
  local n=$1
  shift
  alive "$n" && return 0
  setsid nohup "$@" >"log/$n.out" 2>&1 </dev/null &
  echo $! >"run/$n.pid"
}
# one-off commands: output to log/<name>.out, which is named when they fail
logged() { # name cmd...
  local n=$1
  shift
  "$@" >>"log/$n.out" 2>&1 || die "$n failed: $*; see $STATE/log/$n.out"
}
amqp_up() { (exec 3<>"/dev/tcp/$HOST/5672") 2>/dev/null; }

phase=$(date +%s.%N)
STARTED=$(date +%s.%N) # trap 14: compute heartbeats must be newer than this
say "starting services"

# ------------------------------------------------------------------ rabbitmq
# Debian's wrapper su's to the rabbitmq user (its state is in
# /var/lib/rabbitmq); it takes a few seconds, so it boots while we go on.
export RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=$HOST ERL_EPMD_ADDRESS=$HOST \
  RABBITMQ_DIST_PORT=25672 RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
if ! amqp_up; then
  setsid nohup rabbitmq-server >"$STATE/log/rabbitmq.out" 2>&1 </dev/null &
  echo $! >run/rabbitmq.pid
fi

# ------------------------------------------------------------------ mariadb
# trap 10: sqlite breaks under concurrent creates; a throw-away MariaDB with
# no fsyncs, a tiny buffer pool and loopback only.
mkdir -p mysql
if [ ! -d mysql/mysql ]; then
  mariadb-install-db --user=root --datadir="$STATE/mysql" --skip-test-db \
    --auth-root-authentication-method=socket >log/mysql-install.out 2>&1
fi
if ! alive mysqld; then
  rm -f run/mysqld.pid
  setsid nohup mariadbd --no-defaults --user=root --datadir="$STATE/mysql" --socket="$STATE/run/mysql.sock" \
    --pid-file="$STATE/run/mysqld.pid" --bind-address=$HOST --port=3306 --skip-name-resolve \
    --innodb-buffer-pool-size=64M --performance-schema=OFF --innodb-flush-log-at-trx-commit=0 \
    --innodb-doublewrite=0 --innodb-flush-method=nosync --skip-log-bin --max-connections=500 \
    --character-set-server=utf8mb4 --log-error="$STATE/log/mysqld.log" >/dev/null 2>&1 </dev/null &
fi
for ((i = 0; i < 150; i++)); do mariadb -S run/mysql.sock -e 'select 1' >/dev/null 2>&1 && break; sleep 0.2; done
mariadb -S run/mysql.sock -e 'select 1' >/dev/null || die "mariadb did not start; see $STATE/log/mysqld.log"
{
  for d in keystone placement glance neutron nova_api nova nova_cell0; do echo "CREATE DATABASE IF NOT EXISTS $d;"; done
  echo "CREATE USER IF NOT EXISTS 'os'@'$HOST' IDENTIFIED BY '$PASS'; GRANT ALL ON *.* TO 'os'@'$HOST';"
} | mariadb -S run/mysql.sock
say "mariadb up"

# ------------------------------------------------------------------ databases
# Each schema is created once; a marker file says it is done.
if [ ! -f db/keystone.done ]; then
  KM="keystone-manage --config-file etc/keystone/keystone.conf"
  # trap 16: an AttributeError about 'getcurrent' at exit is harmless noise
  logged keystone-manage $KM db_sync
  logged keystone-manage $KM fernet_setup --keystone-user root --keystone-group root
  logged keystone-manage $KM credential_setup --keystone-user root --keystone-group root
  logged keystone-manage $KM bootstrap --bootstrap-password "$PASS" --bootstrap-region-id RegionOne \
    --bootstrap-admin-url $KS/ --bootstrap-internal-url $KS/ --bootstrap-public-url $KS/
  touch db/keystone.done
  say "keystone db + bootstrap done"
fi
start_uwsgi keystone 5000 bin/keystone.wsgi "OS_KEYSTONE_CONFIG_DIR=$STATE/etc/keystone" 2

# the other schemas are synced while keystone boots
if [ ! -f db/placement.done ]; then
  logged placement-manage env OS_PLACEMENT_CONFIG_DIR="$STATE/etc/placement" \
    placement-manage --config-file etc/placement/placement.conf db sync
  touch db/placement.done
  say "placement db done"
fi
if [ ! -f db/glance.done ]; then
  logged glance-manage bin/glance-manage --config-file etc/glance/glance-api.conf db_sync
  touch db/glance.done
  say "glance db done"
fi
if [ ! -f db/nova.done ]; then
  NM="bin/nova-manage --config-file etc/nova/nova.conf"
  logged nova-manage $NM api_db sync
  logged nova-manage $NM cell_v2 map_cell0 --database_connection "$(dburl nova_cell0)"
  $NM cell_v2 list_cells 2>/dev/null | grep -q " cell1 " || logged nova-manage $NM cell_v2 create_cell --name cell1
  logged nova-manage $NM db sync
  touch db/nova.done
  say "nova dbs done"
fi
if [ ! -f db/neutron.done ]; then
  logged neutron-db-manage bin/neutron-db-manage --config-file etc/neutron/neutron.conf upgrade heads
  touch db/neutron.done
  say "neutron db done"
fi

wait_http "$KS" keystone 60
# Service users, project and user demo, catalog: one python process is much
# faster than a dozen `openstack` CLI calls.
"$PY" - "$PASS" <<'EOF'
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3

pw = sys.argv[1]
KS = "http://127.0.0.1:5000/v3"
s = session.Session(auth=v3.Password(auth_url=KS, username="admin", password=pw, project_name="admin",
                                     user_domain_id="default", project_domain_id="default"))

def find(path, key, **query):
    return s.get(KS + path, params=query).json()[key]

def ensure(path, key, body, **query):
    found = find(path, key, **query)
    if found:
        return found[0]
    return s.post(KS + path, json={key[:-1]: body}).json()[key[:-1]]

roles = {r["name"]: r["id"] for r in find("/roles", "roles")}
service = ensure("/projects", "projects", {"name": "service", "domain_id": "default"}, name="service")
demo = ensure("/projects", "projects", {"name": "demo", "domain_id": "default"}, name="demo")

def user(name, project, role):
    u = ensure("/users", "users", {"name": name, "password": pw, "domain_id": "default",
                                    "default_project_id": project["id"]}, name=name)
    s.put(KS + "/projects/%s/users/%s/roles/%s" % (project["id"], u["id"], roles[role]))

for name in ("nova", "glance", "placement", "neutron"):
    user(name, service, "admin")
user("demo", demo, "member")
catalog = {"compute": ("nova", "http://127.0.0.1:8774/v2.1"), "image": ("glance", "http://127.0.0.1:9292"),
           "placement": ("placement", "http://127.0.0.1:8778"), "network": ("neutron", "http://127.0.0.1:9696")}
for typ, (name, url) in catalog.items():
    svc = ensure("/services", "services", {"type": typ, "name": name}, type=typ)
    for iface in ("public", "internal", "admin"):
        ensure("/endpoints", "endpoints", {"service_id": svc["id"], "interface": iface, "url": url,
                                           "region_id": "RegionOne"}, service_id=svc["id"], interface=iface)
EOF
say "keystone up, users and catalog ok"

# ------------------------------------------------------------------ the rest
start_uwsgi placement 8778 bin/placement.wsgi "OS_PLACEMENT_CONFIG_DIR=$STATE/etc/placement" 1
start_py glance-api bin/glance-api --config-file etc/glance/glance-api.conf
start_uwsgi nova-api 8774 bin/nova-api.wsgi "OS_NOVA_CONFIG_DIR=$STATE/etc/nova" 2
for ((i = 0; i < 300; i++)); do amqp_up && break; sleep 0.2; done
amqp_up || die "rabbitmq did not start; see $STATE/log/rabbitmq.out and /var/log/rabbitmq/"
say "rabbitmq up"
nova_service() { # conductor|scheduler|compute
  alive "nova-$1" && return 0
  # a fresh log per run, so that readiness can be read from it
  [ -f "log/nova-$1.log" ] && mv "log/nova-$1.log" "log/nova-$1.log.prev"
  start_py "nova-$1" bin/nova-"$1" --config-file etc/nova/nova.conf --log-file "$STATE/log/nova-$1.log"
}
# nova-compute pings the conductor once at start and, if the conductor's
# queue does not exist yet, waits 10 s before trying again: the conductor
# goes first and compute starts once the conductor consumes.
nova_service conductor
start_py neutron-server bin/neutron-server --config-file etc/neutron/neutron.conf
nova_service scheduler
for ((i = 0; i < 300; i++)); do
  grep -qs "Starting conductor node" log/nova-conductor.log && break
  sleep 0.2
done
# trap 16: "No DB access allowed in nova-compute" once at start is noise
nova_service compute
wait_http http://$HOST:8778/ placement 60
wait_http http://$HOST:9292/healthcheck glance 60
wait_http http://$HOST:8774/ nova-api 60
wait_http http://$HOST:9696/ neutron 60
say "APIs answer"

# ------------------------------------------------------------------ seed
# Wait for nova's services, map the compute host to cell1, then flavors,
# images, the network and quotas; all idempotent.
"$PY" - "$PASS" "$STATE" "$STARTED" <<'EOF'
import datetime, subprocess, sys, time
from keystoneauth1 import session
from keystoneauth1.identity import v3

pw, state, started = sys.argv[1], sys.argv[2], float(sys.argv[3])
KS = "http://127.0.0.1:5000/v3"
C = "http://127.0.0.1:8774/v2.1"
G = "http://127.0.0.1:9292/v2"
N = "http://127.0.0.1:9696/v2.0"

def sess(user, project):
    return session.Session(auth=v3.Password(auth_url=KS, username=user, password=pw, project_name=project,
                                            user_domain_id="default", project_domain_id="default"))
admin, demo = sess("admin", "admin"), sess("demo", "demo")

# trap 14: after a restart the previous run's heartbeat still counts as "up"
# for 60 s, and a build cast before the new nova-compute listens is lost.
# Wait for heartbeats newer than this run's service start.
def fresh(svc):
    if not svc["updated_at"] or svc["state"] != "up":
        return False
    t = datetime.datetime.fromisoformat(svc["updated_at"]).replace(tzinfo=datetime.timezone.utc)
    return t.timestamp() > started
deadline = time.time() + 120
while True:
    ok = {x["binary"] for x in admin.get(C + "/os-services").json()["services"] if fresh(x)}
    if {"nova-compute", "nova-conductor", "nova-scheduler"} <= ok:
        break
    if time.time() > deadline:
        sys.exit("nova services have no fresh heartbeat (only %s); see log/nova-*.log" % sorted(ok))
    time.sleep(0.5)
subprocess.run([state + "/bin/nova-manage", "--config-file", state + "/etc/nova/nova.conf", "cell_v2",
                "discover_hosts"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)

# The fake driver reports 800000 MB of RAM; x1.impossible asks for 16 TiB so
# the scheduler finds no valid host and the server goes to ERROR.
flavors = {f["name"] for f in admin.get(C + "/flavors", params={"is_public": "None"}).json()["flavors"]}
for name, ram, vcpus, disk in (("m1.tiny", 512, 1, 1), ("m1.small", 1024, 1, 2), ("m1.medium", 2048, 2, 4),
                               ("x1.impossible", 16 * 1024 * 1024, 1, 1)):
    if name not in flavors:
        admin.post(C + "/flavors", json={"flavor": {"name": name, "ram": ram, "vcpus": vcpus, "disk": disk}})

for name in ("cirros-0.6", "centos-stream-9"):
    if admin.get(G + "/images", params={"name": name}).json()["images"]:
        continue
    img = admin.post(G + "/images", json={"name": name, "disk_format": "raw", "container_format": "bare",
                                          "visibility": "public"}).json()
    admin.put(G + "/images/%s/file" % img["id"], data=b"\0" * 65536,
              headers={"Content-Type": "application/octet-stream"})

# network "private" belongs to demo (created with demo's token)
nets = demo.get(N + "/networks", params={"name": "private"}).json()["networks"]
net = nets[0] if nets else demo.post(N + "/networks", json={"network": {"name": "private"}}).json()["network"]
# no DHCP (no agent would serve it); nova still gets a fixed IP per port
if not demo.get(N + "/subnets", params={"network_id": net["id"]}).json()["subnets"]:
    demo.post(N + "/subnets", json={"subnet": {"name": "private-subnet", "network_id": net["id"],
                                               "ip_version": 4, "cidr": "10.10.0.0/22", "enable_dhcp": False}})

# Nova's default quota (10 instances) is too small for parallel tests (trap
# 11). RAM and cores are unlimited so x1.impossible fails in the scheduler,
# not at the quota check; tests lower "instances" themselves when needed.
demo_id = admin.get(KS + "/projects", params={"name": "demo"}).json()["projects"][0]["id"]
r = admin.put(C + "/os-quota-sets/" + demo_id, json={"quota_set": {"instances": 50, "cores": -1, "ram": -1}})
r.raise_for_status()
EOF
say "seeded: flavors, images, network, quotas"

# ------------------------------------------------------------------ outputs
cat >clouds.yaml <<EOF
# written by infrabot's scripts/openstack/setup.sh: a throw-away test cloud on loopback
clouds:
  infrabot-demo:
    auth:
      auth_url: $KS
      username: demo
      password: $PASS
      project_name: demo
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
  infrabot-admin:
    auth:
      auth_url: $KS
      username: admin
      password: $PASS
      project_name: admin
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
    identity_api_version: 3
EOF
cat >test.env <<EOF
# written by infrabot's scripts/openstack/setup.sh; source it before the tests
export OS_AUTH_URL=$KS OS_IDENTITY_API_VERSION=3 OS_REGION_NAME=RegionOne
export OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default
export OS_USERNAME=demo OS_PASSWORD=$PASS OS_PROJECT_NAME=demo
export INFRABOT_OS_CLOUDS_YAML=$STATE/clouds.yaml INFRABOT_OS_CLOUD=infrabot-demo INFRABOT_OS_ADMIN_CLOUD=infrabot-admin
EOF
chmod 600 clouds.yaml test.env
say "phase start: $(since "$phase")s"
say "READY: clouds in $STATE/clouds.yaml, env in $STATE/test.env"
