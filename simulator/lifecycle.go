package simulator

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// fate is what the build of a server will come to, decided when it is
// created (by its flavor and the StickInBuild and FailBuild rules then in
// force).
type fate int

const (
	fateActive      fate = iota // BUILD, then ACTIVE
	fateStuck                   // BUILD forever
	fateFailed                  // BUILD, then ERROR with the FailBuild message
	fateNoValidHost             // BUILD (scheduling), then ERROR: no host fits the flavor
)

// noValidHostMessage is the fault Nova's conductor records when the
// scheduler finds no host for the flavor, trailing space included, as a
// real Nova (Zed) gives it.
const noValidHostMessage = "No valid host was found. "

// The simulated compute host every scheduled server lands on.
const (
	computeHost    = "compute1"
	hypervisorHost = "compute1"
)

// server is a Nova instance. Its state is not stored but derived from the
// clock (see phaseOf), so no goroutine drives the lifecycle.
type server struct {
	id, name      string
	instanceNo    int
	reservationID string
	flavor        *flavor
	imageID       string
	keyName       string
	secGroups     []string
	metadata      map[string]string
	nics          []*nic
	diskConfig    string
	description   *string
	accessIPv4    string
	accessIPv6    string
	tags          []string
	created       time.Time
	modified      time.Time // last metadata change
	fate          fate
	faultMsg      string
	deleteAt      time.Time // zero until DELETE
}

// nic is one port of a server: the address Nova shows and the port Neutron
// lists.
type nic struct {
	portID, networkID, subnetID string
	ip, mac                     string
}

// phase is a server's state as seen at one instant.
type phase struct {
	status, vmState string
	taskState       any // a string, or nil for JSON null
	powerState      int
	scheduled       bool // has a host
	networked       bool // ports bound, addresses shown
	launched        time.Time
	updated         time.Time
	fault           *serverFault
}

type serverFault struct {
	created      time.Time
	message      string
	noValidHost  bool
	instanceUUID string
}

// phaseOf works out the state of sv at now. A build takes buildDelay:
// Nova's task_state goes scheduling, networking, spawning over its thirds,
// then the server is ACTIVE (or ERROR). A server being deleted keeps the
// state it had when DELETE came, with task_state "deleting".
func (s *Simulator) phaseOf(sv *server, now time.Time) phase {
	t := now
	deleting := !sv.deleteAt.IsZero()
	if deleting && sv.deleteAt.Before(t) {
		t = sv.deleteAt
	}
	bd := s.opts.BuildDelay
	el := t.Sub(sv.created)
	p := phase{updated: sv.created}
	switch {
	case sv.fate == fateNoValidHost && el < bd:
		p.status, p.vmState, p.taskState = "BUILD", "building", "scheduling"
	case sv.fate == fateStuck || el < bd:
		p.status, p.vmState = "BUILD", "building"
		switch {
		case el < bd/3:
			p.taskState = "scheduling"
		case el < 2*bd/3:
			p.taskState, p.scheduled = "networking", true
			p.updated = sv.created.Add(bd / 3)
		default:
			p.taskState, p.scheduled, p.networked = "spawning", true, true
			p.updated = sv.created.Add(2 * bd / 3)
		}
	default:
		done := sv.created.Add(bd)
		p.updated = done
		switch sv.fate {
		case fateFailed:
			p.status, p.vmState, p.scheduled = "ERROR", "error", true
			p.fault = &serverFault{created: done, message: sv.faultMsg, instanceUUID: sv.id}
		case fateNoValidHost:
			p.status, p.vmState = "ERROR", "error"
			p.fault = &serverFault{created: done, message: noValidHostMessage, noValidHost: true, instanceUUID: sv.id}
		default:
			p.status, p.vmState, p.powerState = "ACTIVE", "active", 1
			p.scheduled, p.networked, p.launched = true, true, done
		}
	}
	if deleting {
		p.taskState = "deleting"
		p.updated = sv.deleteAt
	}
	if sv.modified.After(p.updated) && !sv.modified.After(now) {
		p.updated = sv.modified
	}
	return p
}

// gone reports whether sv's deletion has completed by now.
func (s *Simulator) gone(sv *server, now time.Time) bool {
	return !sv.deleteAt.IsZero() && !now.Before(sv.deleteAt.Add(s.opts.DeleteDelay))
}

// lockState takes the state lock, drops servers whose deletion finished,
// and returns the current time. Callers must unlock s.mu.
func (s *Simulator) lockState() time.Time {
	s.mu.Lock()
	now := s.now().UTC()
	for id, sv := range s.servers {
		if s.gone(sv, now) {
			s.releaseNICs(sv)
			delete(s.servers, id)
			s.log.Info("server deleted", "id", id, "name", sv.name)
		}
	}
	return now
}

// hostID is Nova's hostId: a hash of the project and the host, so servers
// of one project on one host share it.
func (s *Simulator) hostID() string {
	sum := sha256.Sum224([]byte(s.projectID + computeHost))
	return hex.EncodeToString(sum[:])
}

// activeServers counts the servers that use instance quota: every server
// not yet gone, as Nova counts instance records until they are deleted.
func (s *Simulator) activeServers() int { return len(s.servers) }
