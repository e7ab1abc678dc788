// What became of the spans, on the metrics listener (registered by metrics.ts only when
// tracing is on). Read from the tracing's counts at scrape time: nothing per span here.
// A rising tracing_spans_dropped_total is a collector that is down, blackholed or too
// slow; the service itself is unaffected (requests never wait for the export).
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Tracing } from './tracing-state.js'

export function registerTracingMetrics(registry: Registry, tracing: Tracing): void {
  const registers = [registry]
  new Counter({
    name: 'tracing_spans_exported_total',
    help: 'Spans the trace collector accepted (OTLP).',
    registers,
    collect() {
      this.reset()
      this.inc(tracing.counts().exported)
    },
  })
  new Counter({
    name: 'tracing_spans_dropped_total',
    help: 'Spans never exported: reason="queue_full" (OTEL_BSP_MAX_QUEUE_SIZE spans already waiting), reason="export_failed" (the collector refused, failed or timed out).',
    labelNames: ['reason'] as const,
    registers,
    collect() {
      this.reset()
      const counts = tracing.counts()
      this.inc({ reason: 'queue_full' }, counts.droppedQueueFull)
      this.inc({ reason: 'export_failed' }, counts.droppedExportFailed)
    },
  })
  new Gauge({
    name: 'tracing_spans_pending',
    help: 'Spans ended and waiting for export (at most OTEL_BSP_MAX_QUEUE_SIZE).',
    registers,
    collect() {
      this.set(tracing.counts().pending)
    },
  })
}
