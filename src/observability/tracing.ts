/**
 * OpenTelemetry tracing of the API and the worker, on when OTEL_EXPORTER_OTLP_ENDPOINT or
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT names a collector (docs/OBSERVABILITY.md, "Traces"). One
 * booking is one trace: the HTTP request's span (src/observability/http-tracing.ts), the client's
 * StartWorkflow, the workflow's RunWorkflow and StartActivity spans (sent out of the workflow
 * sandbox through a sink), and each activity's RunActivity span, all carried in Temporal headers
 * by @temporalio/interceptors-opentelemetry. Unset, nothing here is made and no header is sent.
 */
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { ClientInterceptors } from '@temporalio/client';
import {
  OpenTelemetryWorkflowClientInterceptor,
  makeWorkflowExporter,
  type OpenTelemetrySinks,
} from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import type { TracingConfig } from '../config';
import { AsyncLocalStorageContext } from './async-context';
import { tracedActivityInterceptors } from './activity-tracing';

export interface Tracing {
  tracer: Tracer;
  spanProcessor: SpanProcessor;
  resource: Resource;
  /** Sends the spans still buffered and stops; call it last when the process stops. */
  shutdown(): Promise<void>;
}

/**
 * Starts tracing for this process, or returns undefined when no collector is configured.
 * Registers the global tracer provider, the W3C trace-context propagator and the async context,
 * once per process.
 */
export function startTracing(config: TracingConfig, defaultServiceName: string): Tracing | undefined {
  if (!config.tracesEndpoint) return undefined;
  const resource = new Resource({ 'service.name': config.serviceName || defaultServiceName });
  // Batched: spans are posted every few seconds (OTEL_BSP_SCHEDULE_DELAY, 5 s), never per request.
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: config.tracesEndpoint }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register({ contextManager: new AsyncLocalStorageContext().enable() });
  return {
    tracer: trace.getTracer('license-fulfillment'),
    spanProcessor,
    resource,
    shutdown: () => provider.shutdown(),
  };
}

/** The Temporal client's interceptors: the current span goes with each workflow start, signal and update. */
export function tracingClientInterceptors(tracing: Tracing | undefined): ClientInterceptors | undefined {
  return tracing ? { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] } : undefined;
}

/**
 * What the order worker adds for tracing: activity spans, and the sink the workflow interceptors
 * (in every bundle, workflows/shared/tracing-interceptors.ts) send their spans through. The sink
 * is there even with tracing off, so a run started traced by a traced API drops its spans here
 * instead of logging an unregistered sink on every task.
 */
export function workerTracingOptions(tracing: Tracing | undefined): {
  interceptors: Pick<WorkerInterceptors, 'activity'>;
  sinks: InjectedSinks<OpenTelemetrySinks>;
} {
  if (!tracing) return { interceptors: {}, sinks: { exporter: { export: { fn: () => undefined } } } };
  return {
    interceptors: { activity: [tracedActivityInterceptors(tracing.tracer)] },
    sinks: { exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) },
  };
}
