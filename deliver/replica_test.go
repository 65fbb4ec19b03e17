package deliver

import (
	"strings"
	"testing"

	"mailward/internal/testkit"
	"mailward/orgauth"
	"mailward/queue"
	"mailward/smtpclient"
)

// replicaJobs routes recipient 0 (bob, ordinary mail) and recipient 1
// (mx2's store, a replica recipient) to mx2.
func replicaJobs(m *queue.Message) []Job {
	var jobs []Job
	for _, i := range m.Pending() {
		jobs = append(jobs, Job{Index: i, Server: "mx2", Replica: m.Env.Recipients[i].Replica != ""})
	}
	return jobs
}

func replicaEnvelope() *queue.Envelope {
	return &queue.Envelope{From: "alice@example.test", Recipients: []queue.Recipient{
		{Addr: "bob@example.test"},
		{Addr: "mx2-store@example.test", Notify: "NEVER", ReportTo: "-", Replica: "support@example.test",
			ReplicationID: "1764567000.MABCR0.mx1"},
	}}
}

// A replica recipient travels in a transaction of its own, whose
// properties mark the message a replication and the recipient a
// replica of its folder with its replication ID; the ordinary
// recipient's transaction to the same server is not marked.
func TestReplicaOwnTransaction(t *testing.T) {
	p := startHomePeer(t)
	r := &Remote{Org: homeOrg(p.Addr), Self: "mx1", Secret: "mx1-secret", Default: Route{TLS: smtpclient.TLSNone}}
	res := deliverJobs(t, r, replicaEnvelope(), replicaJobs)
	for _, x := range res {
		if x.State != queue.Delivered {
			t.Errorf("recipient %d: %v %s", x.Index, x.State, x.Reply)
		}
	}
	if m := p.Messages(); len(m) != 2 || len(m[0].RcptLines) != 1 || len(m[1].RcptLines) != 1 {
		t.Fatalf("messages %+v, want two of one recipient each", m)
	}
	marked := 0
	for _, b := range p.Blobs() {
		props, err := orgauth.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		rp := props.Recipients[0]
		switch rp.Address {
		case "bob@example.test":
			if props.Message.Replication || rp.Replica != "" {
				t.Errorf("ordinary transaction marked a replication: %s", b)
			}
		case "mx2-store@example.test":
			if !props.Message.Replication || rp.Replica != "support@example.test" || rp.ReplicationID != "1764567000.MABCR0.mx1" {
				t.Errorf("replication's properties %s", b)
			}
			marked++
		}
	}
	if marked != 1 {
		t.Errorf("%d replication transactions, want 1", marked)
	}
}

// A replica server that refuses XEXCH50 (it does not trust us:
// KB843106's 504) or does not offer X-EXPS gets no replication: the
// transaction is reset before DATA, and the replica recipient stays
// queued with KB979174's last error. The ordinary
// recipient is delivered without properties, as before.
func TestReplicationHeldOnTrustFailure(t *testing.T) {
	cases := []struct {
		name string
		ext  []string
		why  string
	}{
		{"XEXCH50 refused", []string{"PIPELINING", "X-EXPS LOGIN", "XEXCH50"}, `responded with: "504 Need to authenticate first."`},
		{"X-EXPS not offered", []string{"PIPELINING", "XEXCH50"}, `did not offer X-EXPS LOGIN to mx1.example.test`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testkit.StartSMTP(t, testkit.SMTP{Name: "peer.test", Extensions: c.ext,
				Handle: func(s *testkit.SMTPSession, verb, line string) testkit.Reply {
					switch verb {
					case "X-EXPS":
						if _, ok := s.Ask("334 UGFzc3dvcmQ6"); !ok {
							return testkit.Reply{Hangup: true}
						}
						return testkit.Reply{Text: "235 2.7.0 Authentication successful"}
					case "XEXCH50":
						return testkit.Reply{Text: "504 Need to authenticate first"}
					}
					return testkit.Reply{}
				}})
			r := &Remote{Org: homeOrg(p.Addr), Self: "mx1", Secret: "mx1-secret", Default: Route{TLS: smtpclient.TLSNone}}
			res := deliverJobs(t, r, replicaEnvelope(), replicaJobs)
			for _, x := range res {
				switch {
				case x.Index == 1 && (x.State != queue.Pending || !strings.Contains(x.Reply.String(), c.why) ||
					!strings.HasPrefix(x.Reply.String(), "451 4.4.0 Primary target IP address responded with: ")):
					t.Errorf("replica recipient: %v %s; want held with KB979174's error naming %s", x.State, x.Reply, c.why)
				case x.Index == 0 && x.State != queue.Delivered:
					t.Errorf("ordinary recipient: %v %s", x.State, x.Reply)
				}
			}
			for _, m := range p.Messages() {
				for _, l := range m.RcptLines {
					if strings.Contains(l, "mx2-store") {
						t.Errorf("the replication was sent without its properties: %+v", m)
					}
				}
			}
		})
	}
}
