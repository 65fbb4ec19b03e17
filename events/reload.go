package events

// The reload's listener changes (docs/configuration.md, "Reloading"):
// 1090-1099.
const (
	VirtualServerListening = 1090
	VirtualServerClosed    = 1091
)

func init() {
	for _, d := range []Def{
		{VirtualServerListening, Information, "service", None,
			"Virtual server {virtual_server} now listens on {address} ({change}).",
			"A reload added this [[virtual_server]], or moved it to a new address. Its settings apply to every session from now on; the other virtual servers listened on without a gap.",
			"None needed."},
		{VirtualServerClosed, Information, "service", None,
			"Virtual server {virtual_server} no longer listens on {address} ({change}); its {sessions} session(s) in progress finish on their settings.",
			"A reload removed this [[virtual_server]], or moved it to another address: its listening socket is closed, so new connections to the address are refused, while the sessions already open go on to their end as if nothing had happened.",
			"None needed. If clients still use the old address, tell them the new one, or add the address back and reload."},
	} {
		Catalogue[d.ID] = d
	}
}
