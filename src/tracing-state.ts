// What the running service needs from tracing, without loading it: set by the SDK setup
// (tracing-sdk.ts) when the preload turned tracing on, undefined otherwise. The logger,
// the shutdown and the metrics read it; with tracing off each of them pays one check.

export interface TraceFields {
  trace_id: string
  span_id: string
  /** W3C trace flags as two hex digits ("01": sampled), as the OpenTelemetry log data model writes them. */
  trace_flags: string
}

export interface SpanCounts {
  /** Spans the collector accepted. */
  exported: number
  /** Spans dropped because the export queue was full (a slow or unreachable collector). */
  droppedQueueFull: number
  /** Spans dropped because their export failed or timed out. */
  droppedExportFailed: number
  /** Spans ended and not yet exported or dropped. */
  pending: number
}

export interface FlushResult {
  /** False when the budget ran out first (the spans still pending are lost at exit). */
  complete: boolean
  ms: number
  counts: SpanCounts
}

export interface Tracing {
  /** The active span's ids for a log line; undefined outside a traced request. */
  traceFields(): TraceFields | undefined
  counts(): SpanCounts
  /** Exports what is queued, within budgetMs whatever the collector does. */
  flush(budgetMs: number): Promise<FlushResult>
  /** Runs fn with tracing suppressed: the startup's warm-up requests are not traffic. */
  untraced<T>(this: void, fn: () => T): T
}

let current: Tracing | undefined

/** The running tracing, or undefined when the preload left it off. */
export function tracing(): Tracing | undefined {
  return current
}

export function setTracing(value: Tracing): void {
  current = value
}
