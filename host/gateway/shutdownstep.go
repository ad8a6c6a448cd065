package gateway

// Steps of Shutdown, in order, as passed to Gateway.onShutdownStep.
const (
	stepStopIntake   = "stop intake"
	stepFlushWindows = "flush windows"
	stepDrainRuns    = "drain runs"
	stepCancelRuns   = "cancel runs"
	stepClearTimers  = "clear timers"
	stepClosePlugins = "close plugins"
)

func (g *Gateway) shutdownStep(step string) {
	g.log.Debug("shutdown step", "step", step)
	if g.onShutdownStep != nil {
		g.onShutdownStep(step)
	}
}
