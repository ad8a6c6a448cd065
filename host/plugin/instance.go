package plugin

import (
	"context"

	"github.com/tetratelabs/wazero/api"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// instance is one instantiated module with its kernel memory and function
// handles. It is not safe for concurrent use: the pool hands it to one call
// at a time.
type instance struct {
	mod    api.Module
	fns    map[string]api.Function // looked up once, at instantiation
	k      *kernel
	st     callState // reused by every call on this instance
	stack  []uint64
	config map[string]string

	vars     map[string][]byte
	varBytes int
	maxVars  int
}

// newInstance instantiates p's compiled module, runs _initialize and looks
// up the entry points.
func (p *Plugin) newInstance(ctx context.Context) (*instance, error) {
	ctx, cancel := context.WithTimeout(ctx, p.limits.InitTimeout)
	defer cancel()

	inst := &instance{
		k:       newKernel(p.limits.KernelBytes),
		fns:     make(map[string]api.Function, len(p.exports)),
		config:  p.config,
		vars:    make(map[string][]byte),
		maxVars: p.limits.MaxVarBytes,
		stack:   make([]uint64, 1),
	}
	inst.st = callState{k: inst.k, inst: inst, limits: &p.limits}

	// Host functions may run during _initialize (a reactor's init code can
	// log), so the state must be in the context already.
	inst.st.ctx = ctx
	inst.st.host = BaseHost{Logger: p.logger}
	ctx = context.WithValue(ctx, stateKey{}, &inst.st)

	mod, err := p.rt.InstantiateModule(ctx, p.compiled, p.moduleConfig())
	if err != nil {
		return nil, classify(p.name, abi.ExportInitialize, err, "")
	}
	inst.mod = mod

	if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
		if _, err := init.Call(ctx); err != nil {
			_ = mod.Close(context.Background())
			return nil, classify(p.name, abi.ExportInitialize, err, p.stderr.tail())
		}
	}
	for name := range p.exports {
		if f := mod.ExportedFunction(name); f != nil {
			inst.fns[name] = f
		}
	}
	return inst, nil
}

func (inst *instance) close() {
	if inst.mod != nil {
		_ = inst.mod.Close(context.Background())
	}
}

// setVar implements var_set: a value offset of 0 deletes the variable.
func (inst *instance) setVar(name string, valueOff uint64, k *kernel) {
	old := len(inst.vars[name])
	if valueOff == 0 {
		delete(inst.vars, name)
		inst.varBytes -= old + len(name)
		return
	}
	v := k.block(valueOff)
	grow := len(v) - old
	if _, ok := inst.vars[name]; !ok {
		grow += len(name)
	}
	if inst.varBytes+grow > inst.maxVars {
		kernelFault("var_set %q: variables would use %d bytes, above the limit of %d", name, inst.varBytes+grow, inst.maxVars)
	}
	inst.vars[name] = append([]byte(nil), v...)
	inst.varBytes += grow
}
