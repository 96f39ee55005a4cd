package simulator

import (
	"crypto/ed25519"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"net/netip"
	"time"
)

// Names of the seeded resources.
const (
	FlavorImpossible = "x1.impossible"
	ImageCentOS      = "centos-stream-9"
	ImageCirros      = "cirros-0.6"
	NetworkPrivate   = "private"
	NetworkPublic    = "public"
	SecGroupDefault  = "default"
	KeypairDefault   = "infrabot"
)

// seed fills a new simulator with the cloud described in the package
// documentation.
func (s *Simulator) seed(now time.Time) {
	s.seedIdentity()
	s.servers = map[string]*server{}
	s.instanceQuota = DefaultInstanceQuota
	if n, ok := s.opts.Quotas["instances"]; ok {
		s.instanceQuota = n
	}

	// DevStack's m1 flavors, and one no host can take.
	s.flavors = []*flavor{
		{id: "1", name: "m1.tiny", ram: 512, vcpus: 1, disk: 1},
		{id: "2", name: "m1.small", ram: 2048, vcpus: 1, disk: 20},
		{id: "3", name: "m1.medium", ram: 4096, vcpus: 2, disk: 40},
		{id: "4", name: "m1.large", ram: 8192, vcpus: 4, disk: 80},
		{id: newUUID(), name: FlavorImpossible, ram: 4 << 20, vcpus: 1, disk: 1},
	}
	for _, f := range s.flavors {
		f.extraSpecs = map[string]string{}
	}

	day := now.Add(-24 * time.Hour)
	s.images = []*image{
		seedImage(ImageCirros, 21430272, day, map[string]string{"hw_rng_model": "virtio", "os_distro": "cirros"}),
		seedImage(ImageCentOS, 1157627904, day.Add(time.Minute), map[string]string{"os_distro": "centos", "os_version": "9"}),
	}

	private := seedNetwork(NetworkPrivate, "10.0.0.0/24", false, day)
	private.mtu, private.netType, private.segment = 1450, "vxlan", 100
	public := seedNetwork(NetworkPublic, "172.24.4.0/24", true, day)
	public.mtu, public.netType, public.physNet = 1500, "flat", "public"
	s.network.networks = []*network{private.network, public.network}
	s.network.subnets = []*subnet{private.subnet, public.subnet}

	s.network.secGroups = []*secGroup{{
		id: newUUID(), name: SecGroupDefault, description: "Default security group", created: day,
		rules: []secRule{
			{id: newUUID(), direction: "egress", ethertype: "IPv4"},
			{id: newUUID(), direction: "egress", ethertype: "IPv6"},
			{id: newUUID(), direction: "ingress", ethertype: "IPv4", remoteGroup: true},
			{id: newUUID(), direction: "ingress", ethertype: "IPv6", remoteGroup: true},
		},
	}}

	// A key pair so that servers can name one; nobody holds its private
	// half, which does not matter as no guest ever boots.
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	var blob []byte
	blob = appendSSHString(blob, []byte("ssh-ed25519"))
	blob = appendSSHString(blob, pub)
	line := "ssh-ed25519 " + base64.StdEncoding.EncodeToString(blob) + " infrabot@simulator"
	fp, _ := sshFingerprint(line)
	s.addKeypair(KeypairDefault, line, fp, day)
}

func seedImage(name string, size int64, created time.Time, props map[string]string) *image {
	md := md5.Sum([]byte(name))
	sha := sha512.Sum512([]byte(name))
	return &image{
		id: newUUID(), name: name, status: "active", diskFormat: "qcow2", containerFmt: "bare",
		size: size, checksum: hex.EncodeToString(md[:]), hashValue: hex.EncodeToString(sha[:]),
		tags: []string{}, props: props, created: created, updated: created.Add(2 * time.Second),
		visibility: "public",
	}
}

type seededNetwork struct {
	*network
	*subnet
}

// seedNetwork makes a network with one IPv4 subnet whose gateway is .1 and
// whose allocation pool is the rest of the range.
func seedNetwork(name, cidr string, external bool, created time.Time) seededNetwork {
	prefix := netip.MustParsePrefix(cidr)
	gw := prefix.Addr().Next()
	last := prefix.Addr()
	for a := prefix.Addr(); prefix.Contains(a); a = a.Next() {
		last = a
	}
	n := &network{id: newUUID(), name: name, external: external, created: created}
	sn := &subnet{
		id: newUUID(), name: name + "-subnet", networkID: n.id, prefix: prefix, gateway: gw,
		poolStart: gw.Next(), poolEnd: last.Prev(), used: map[netip.Addr]bool{}, created: created,
	}
	n.subnetIDs = []string{sn.id}
	return seededNetwork{network: n, subnet: sn}
}
