package bench

import (
	"runtime"
	"runtime/metrics"
	"sort"
	"sync"
	"syscall"
	"time"
)

// Meter adds up what the measured sections of a run cost: wall time, CPU time
// of the whole process (every thread: the garbage collector's work counts, on
// whichever core it ran), heap allocations, and optionally each section's
// latency. Work outside the sections (generating the workload) is not counted,
// except for whatever garbage collection it causes that falls inside one.
type Meter struct {
	Records int
	Wall    time.Duration
	CPU     time.Duration
	Allocs  uint64
	Bytes   uint64
	Lat     []time.Duration // per section, when latencies are kept
	keepLat bool
}

// NewMeter returns a meter; keepLatency keeps each section's wall time.
func NewMeter(keepLatency bool) *Meter { return &Meter{keepLat: keepLatency} }

// Section is a measurement in progress.
type Section struct {
	wall          time.Time
	cpu           time.Duration
	allocs, bytes uint64
}

var allocSamples = []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
var allocMu sync.Mutex

func readAllocs() (objects, bytes uint64) {
	allocMu.Lock()
	defer allocMu.Unlock()
	metrics.Read(allocSamples)
	return allocSamples[0].Value.Uint64(), allocSamples[1].Value.Uint64()
}

// ProcessCPU is the CPU time (user and system) the process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Start begins a section.
func (m *Meter) Start() Section {
	var s Section
	s.allocs, s.bytes = readAllocs()
	s.cpu = ProcessCPU()
	s.wall = time.Now()
	return s
}

// Stop ends a section that handled records.
func (m *Meter) Stop(s Section, records int) {
	wall := time.Since(s.wall)
	cpu := ProcessCPU() - s.cpu
	a, b := readAllocs()
	m.Records += records
	m.Wall += wall
	m.CPU += cpu
	m.Allocs += a - s.allocs
	m.Bytes += b - s.bytes
	if m.keepLat {
		m.Lat = append(m.Lat, wall)
	}
}

// PerSec is records per second of wall time in the sections.
func (m *Meter) PerSec() float64 { return rate(m.Records, m.Wall) }

// PerCore is records per CPU-second: per core, whatever the number of cores.
func (m *Meter) PerCore() float64 { return rate(m.Records, m.CPU) }

func rate(n int, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// Percentile returns the p-th percentile (0..100) of the kept latencies, by the
// nearest-rank method.
func (m *Meter) Percentile(p float64) time.Duration {
	if len(m.Lat) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), m.Lat...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(p/100*float64(len(s))+0.999999) - 1
	rank = max(0, min(rank, len(s)-1))
	return s[rank]
}

// HeapPeak samples the heap in use (live and not yet swept objects) every few
// milliseconds and keeps the largest value, from Begin (after a full
// collection) to End.
type HeapPeak struct {
	stop chan struct{}
	done chan uint64
}

var heapSample = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}

func heapInUse() uint64 {
	s := []metrics.Sample{{Name: heapSample[0].Name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// BeginHeapPeak collects garbage and starts sampling.
func BeginHeapPeak() *HeapPeak {
	runtime.GC()
	h := &HeapPeak{stop: make(chan struct{}), done: make(chan uint64, 1)}
	go func() {
		peak := heapInUse()
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				h.done <- max(peak, heapInUse())
				return
			case <-t.C:
				peak = max(peak, heapInUse())
			}
		}
	}()
	return h
}

// End stops sampling and returns the peak, in bytes.
func (h *HeapPeak) End() uint64 {
	close(h.stop)
	return <-h.done
}

// LiveHeap is the heap in use after a full collection.
func LiveHeap() uint64 {
	runtime.GC()
	return heapInUse()
}
