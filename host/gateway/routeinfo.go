package gateway

// Route returns the plugin and tenant that runs for session go to, or
// ErrNoRoute. The API uses it to check that a tenant's caller reaches only
// its own tenant's plugins.
func (g *Gateway) Route(session string) (plugin, tenant string, err error) {
	rt, err := g.route(session)
	return rt.plugin, rt.tenant, err
}
