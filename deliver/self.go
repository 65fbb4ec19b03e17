package deliver

// selfNames are this server's names and listening addresses, as a
// reload last set them.
type selfNames struct{ names, addrs []string }

// SetSelf replaces LocalNames and LocalAddrs while deliveries run: a
// reload added, moved or renamed a virtual server, and a next hop that
// is the new address must be seen as the loop it is (loop.go).
func (r *Remote) SetSelf(names, addrs []string) {
	r.self.Store(&selfNames{names: names, addrs: addrs})
}

// localSelf are the names and addresses in force.
func (r *Remote) localSelf() (names, addrs []string) {
	if p := r.self.Load(); p != nil {
		return p.names, p.addrs
	}
	return r.LocalNames, r.LocalAddrs
}
