package plugin

import (
	"errors"
	"fmt"
)

// moduleShape is what the host reads from a module's binary before the
// engine compiles it: the parts that load-time validation bounds. wazero's
// CompiledModule does not expose tables, so the host parses the sections
// itself.
type moduleShape struct {
	Imports  []wasmImport
	Tables   []wasmLimits // defined tables, in index order
	Memories []wasmLimits // defined memories, in index order
	Exports  []wasmExport
	// HasStart is true when the module has a start section, whose function
	// runs during instantiation.
	HasStart bool
	Start    uint32

	// tableTypes are the reference types of Tables, and tableSection is the
	// byte range of the whole table section (id and size included), so that
	// withTableMaximums can re-encode it. The range is empty when the module
	// has no table section.
	tableTypes   []byte
	tableSection [2]int
}

// wasmImport is one entry of the import section.
type wasmImport struct {
	Module, Name string
	Kind         byte // externFunc, externTable, externMemory or externGlobal
}

// wasmExport is one entry of the export section.
type wasmExport struct {
	Name  string
	Kind  byte
	Index uint32
}

// wasmLimits are a table's (in elements) or a memory's (in 64 KiB pages)
// limits. Max is meaningful only when HasMax is true.
type wasmLimits struct {
	Min, Max uint32
	HasMax   bool
}

// External kinds of imports and exports, from the WebAssembly binary format.
const (
	externFunc   byte = 0
	externTable  byte = 1
	externMemory byte = 2
	externGlobal byte = 3
)

// Section ids this parser reads; the others are skipped by size.
const (
	sectionImport byte = 2
	sectionTable  byte = 4
	sectionMemory byte = 5
	sectionExport byte = 7
	sectionStart  byte = 8
)

var errTruncated = errors.New("unexpected end of module")

// parseModule reads the import, table, memory, export and start sections of
// a WebAssembly 1.0 binary. It allocates at most in proportion to len(wasm):
// every count is checked against the bytes left before anything is sized by
// it. It returns an error naming the section and byte offset of the first
// malformed part.
func parseModule(wasm []byte) (*moduleShape, error) {
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly module: the file does not start with the \\0asm magic number")
	}
	if v := uint32(wasm[4]) | uint32(wasm[5])<<8 | uint32(wasm[6])<<16 | uint32(wasm[7])<<24; v != 1 {
		return nil, fmt.Errorf("unsupported WebAssembly binary version %d: want 1", v)
	}
	shape := &moduleShape{}
	r := &wasmReader{b: wasm, off: 8}
	for r.off < len(r.b) {
		start := r.off
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, fmt.Errorf("section %d at offset %d: size: %w", id, start, err)
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			return nil, fmt.Errorf("section %d at offset %d: size %d runs past the end of the module", id, start, size)
		}
		body := &wasmReader{b: r.b[:r.off+int(size)], off: r.off}
		r.off += int(size)
		if id == sectionTable {
			shape.tableSection = [2]int{start, r.off}
		}
		if err := shape.readSection(id, body); err != nil {
			return nil, fmt.Errorf("section %d at offset %d: %w", id, start, err)
		}
		if id != 0 && body.off != len(body.b) {
			switch id {
			case sectionImport, sectionTable, sectionMemory, sectionExport, sectionStart:
				return nil, fmt.Errorf("section %d at offset %d: %d bytes left over after its entries", id, start, len(body.b)-body.off)
			}
		}
	}
	return shape, nil
}

func (m *moduleShape) readSection(id byte, r *wasmReader) error {
	switch id {
	case sectionImport:
		return r.vector(func() error {
			var imp wasmImport
			var err error
			if imp.Module, err = r.name(); err != nil {
				return err
			}
			if imp.Name, err = r.name(); err != nil {
				return err
			}
			if imp.Kind, err = r.byte(); err != nil {
				return err
			}
			switch imp.Kind {
			case externFunc:
				_, err = r.u32()
			case externTable:
				if _, err = r.byte(); err == nil {
					_, err = r.limits()
				}
			case externMemory:
				_, err = r.limits()
			case externGlobal:
				if _, err = r.byte(); err == nil {
					_, err = r.byte()
				}
			default:
				return fmt.Errorf("import %s.%s has unknown kind %d", imp.Module, imp.Name, imp.Kind)
			}
			m.Imports = append(m.Imports, imp)
			return err
		})
	case sectionTable:
		return r.vector(func() error {
			ref, err := r.byte()
			if err != nil {
				return err
			}
			l, err := r.limits()
			m.Tables = append(m.Tables, l)
			m.tableTypes = append(m.tableTypes, ref)
			return err
		})
	case sectionMemory:
		return r.vector(func() error {
			l, err := r.limits()
			m.Memories = append(m.Memories, l)
			return err
		})
	case sectionExport:
		return r.vector(func() error {
			var e wasmExport
			var err error
			if e.Name, err = r.name(); err != nil {
				return err
			}
			if e.Kind, err = r.byte(); err != nil {
				return err
			}
			e.Index, err = r.u32()
			m.Exports = append(m.Exports, e)
			return err
		})
	case sectionStart:
		idx, err := r.u32()
		m.HasStart, m.Start = true, idx
		return err
	}
	return nil
}

// wasmReader decodes the primitive encodings of the binary format from b,
// starting at off. It never reads past len(b).
type wasmReader struct {
	b   []byte
	off int
}

func (r *wasmReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// u32 decodes an unsigned LEB128 number of at most 5 bytes.
func (r *wasmReader) u32() (uint32, error) {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift == 28 && c > 0x0f {
			return 0, fmt.Errorf("integer at offset %d overflows 32 bits", r.off-1)
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("integer at offset %d is longer than 5 bytes", r.off)
}

func (r *wasmReader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		return "", fmt.Errorf("name of %d bytes at offset %d runs past its section", n, r.off)
	}
	s := string(r.b[r.off : r.off+int(n)])
	r.off += int(n)
	return s, nil
}

// limits decodes a limits entry. Flags other than 0 (min) and 1 (min and
// max) are shared or 64-bit memories, which this host does not run.
func (r *wasmReader) limits() (wasmLimits, error) {
	flag, err := r.byte()
	if err != nil {
		return wasmLimits{}, err
	}
	if flag > 1 {
		return wasmLimits{}, fmt.Errorf("limits flag 0x%02x at offset %d: shared and 64-bit memories are not supported", flag, r.off-1)
	}
	var l wasmLimits
	if l.Min, err = r.u32(); err != nil {
		return l, err
	}
	if flag == 1 {
		l.HasMax = true
		if l.Max, err = r.u32(); err != nil {
			return l, err
		}
		if l.Max < l.Min {
			return l, fmt.Errorf("limits maximum %d is below minimum %d", l.Max, l.Min)
		}
	}
	return l, nil
}

// vector reads a count and calls entry that many times. Every entry takes at
// least one byte, so a count above the bytes left is rejected before the loop.
func (r *wasmReader) vector(entry func() error) error {
	n, err := r.u32()
	if err != nil {
		return err
	}
	if uint64(n) > uint64(len(r.b)-r.off) {
		return fmt.Errorf("count %d at offset %d exceeds the %d bytes left in the section", n, r.off, len(r.b)-r.off)
	}
	for i := uint32(0); i < n; i++ {
		if err := entry(); err != nil {
			return fmt.Errorf("entry %d: %w", i, err)
		}
	}
	return nil
}

// withTableMaximums returns wasm with every defined table that declares no
// maximum given a maximum equal to its minimum, so the engine fails a
// table.grow past it (returning -1, as the specification allows) instead of
// growing host memory without bound. It returns wasm itself when every table
// already declares a maximum.
func withTableMaximums(wasm []byte, m *moduleShape) []byte {
	unbounded := false
	for _, t := range m.Tables {
		unbounded = unbounded || !t.HasMax
	}
	if !unbounded {
		return wasm
	}
	body := appendU32(nil, uint32(len(m.Tables)))
	for i, t := range m.Tables {
		max := t.Max
		if !t.HasMax {
			max = t.Min
		}
		body = append(body, m.tableTypes[i], 1)
		body = appendU32(body, t.Min)
		body = appendU32(body, max)
	}
	start, end := m.tableSection[0], m.tableSection[1]
	out := make([]byte, 0, len(wasm)+len(body)+8)
	out = append(out, wasm[:start]...)
	out = append(out, sectionTable)
	out = appendU32(out, uint32(len(body)))
	out = append(out, body...)
	return append(out, wasm[end:]...)
}

// appendU32 appends v in unsigned LEB128.
func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}
