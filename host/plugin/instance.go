package plugin

import (
	"context"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"

	"github.com/wasm-gateway/wasm-gateway/abi"
)

// instance is one instantiated module with its kernel memory and function
// handles. It is not safe for concurrent use: the pool hands it to one call
// at a time.
type instance struct {
	mod    api.Module
	mem    *hostMemory             // nil when wazero allocated the memory itself
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

	// The memory comes out of Allocate in use, so a concurrent runtime
	// Close cannot unmap it under the start function or _initialize.
	alloc := p.newInstanceAllocator()
	ictx := ctx
	if alloc != nil {
		ictx = experimental.WithMemoryAllocator(ctx, alloc)
	}
	mod, err := p.rt.InstantiateModule(ictx, p.compiled, p.moduleConfig())
	if alloc != nil {
		inst.mem = alloc.mem
	}
	if err != nil {
		// wazero does not close a module whose instantiation failed, so
		// its memory is freed here.
		inst.releaseMemory()
		inst.close()
		return nil, classify(p.name, abi.ExportInitialize, err, "")
	}
	inst.mod = mod

	if init := mod.ExportedFunction(abi.ExportInitialize); init != nil {
		if _, err := init.Call(ctx); err != nil {
			inst.releaseMemory()
			inst.close()
			return nil, classify(p.name, abi.ExportInitialize, err, p.stderr.tail())
		}
	}
	inst.releaseMemory()
	for name := range p.exports {
		if f := mod.ExportedFunction(name); f != nil {
			inst.fns[name] = f
		}
	}
	return inst, nil
}

// close closes the module and frees its memory. wazero frees the memory on
// Close itself, except when a deadline marked the module closed during a
// call that then trapped: Free is idempotent, so close frees it in every
// case.
func (inst *instance) close() {
	if inst.mod != nil {
		_ = inst.mod.Close(context.Background())
	}
	if inst.mem != nil {
		inst.mem.Free()
	}
}

// acquireMemory marks the instance's memory in use by a call and reports
// whether the call may run: false means the memory was freed.
func (inst *instance) acquireMemory() bool {
	return inst.mem == nil || inst.mem.acquire()
}

// releaseMemory ends the use acquireMemory (or instantiation) began.
func (inst *instance) releaseMemory() {
	if inst.mem != nil {
		inst.mem.release()
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
