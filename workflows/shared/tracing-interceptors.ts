/**
 * The workflow interceptors every order bundle carries (src/temporal/workflow-bundle.ts):
 * OpenTelemetry's (@temporalio/interceptors-opentelemetry), but only for a run that was started
 * with a trace context in its headers, which a client sends only when tracing is configured
 * (docs/OBSERVABILITY.md, "Traces"). A run started without one passes every call straight
 * through: no span, no extra await, no header on its commands. So one bundle serves traced and
 * untraced workers alike, and the histories recorded before tracing replay unchanged
 * (test/integration/replay.test.ts).
 *
 * OpenTelemetry's modules are loaded (required) only once a run turns out to be traced: the
 * sandbox evaluates a bundle's imported modules afresh for every run it creates, and the tracer's
 * (sdk-trace-base, semantic conventions, resources) were a tenth of the workflow thread's CPU
 * for runs that never trace (issue 16, a profile of the order worker).
 */
import type {
  ActivityInput,
  ContinueAsNewInput,
  DisposeInput,
  GetLogAttributesInput,
  GetMetricTagsInput,
  Headers,
  LocalActivityInput,
  Next,
  QueryInput,
  SignalInput,
  SignalWorkflowInput,
  StartChildWorkflowExecutionInput,
  UpdateInput,
  WorkflowExecuteInput,
  WorkflowInboundCallsInterceptor,
  WorkflowInterceptors,
  WorkflowInternalsInterceptor,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

import type { TRACE_HEADER as OTEL_TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import type * as OpenTelemetryWorkflow from '@temporalio/interceptors-opentelemetry/lib/workflow';

type OpenTelemetryWorkflowInterceptors = typeof OpenTelemetryWorkflow;

/** The header a traced caller sets (the literal type keeps it equal to the interceptors' own constant). */
const TRACE_HEADER: typeof OTEL_TRACE_HEADER = '_tracer-data';

/** OpenTelemetry's workflow interceptors, evaluated in this run's sandbox the first time a run needs them. */
function openTelemetry(): OpenTelemetryWorkflowInterceptors {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded lazily on purpose (see the module comment)
  return require('@temporalio/interceptors-opentelemetry/lib/workflow') as OpenTelemetryWorkflowInterceptors;
}

type Inbound = Required<
  Pick<WorkflowInboundCallsInterceptor, 'execute' | 'handleSignal' | 'handleUpdate' | 'validateUpdate' | 'handleQuery'>
>;

/** Whether this run is traced, and OpenTelemetry's interceptors, made only once it is (they start a tracer). */
class TracedRun {
  traced = false;
  private otel?: {
    inbound: InstanceType<OpenTelemetryWorkflowInterceptors['OpenTelemetryInboundInterceptor']>;
    outbound: InstanceType<OpenTelemetryWorkflowInterceptors['OpenTelemetryOutboundInterceptor']>;
  };

  /** OpenTelemetry's interceptors when this run is traced or `headers` carry a trace context, else undefined. */
  tracing(headers?: Headers) {
    if (!this.traced && !(headers && TRACE_HEADER in headers)) return undefined;
    if (!this.otel) {
      const { OpenTelemetryInboundInterceptor, OpenTelemetryOutboundInterceptor } = openTelemetry();
      this.otel = { inbound: new OpenTelemetryInboundInterceptor(), outbound: new OpenTelemetryOutboundInterceptor() };
    }
    return this.otel;
  }
}

function inboundOf(run: TracedRun): Inbound {
  return {
    execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>) {
      const otel = run.tracing(input.headers);
      if (!otel) return next(input);
      run.traced = true;
      return otel.inbound.execute(input, next);
    },
    handleSignal(input: SignalInput, next: Next<WorkflowInboundCallsInterceptor, 'handleSignal'>) {
      return run.tracing(input.headers)?.inbound.handleSignal(input, next) ?? next(input);
    },
    handleUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'handleUpdate'>) {
      return run.tracing(input.headers)?.inbound.handleUpdate(input, next) ?? next(input);
    },
    validateUpdate(input: UpdateInput, next: Next<WorkflowInboundCallsInterceptor, 'validateUpdate'>) {
      const otel = run.tracing(input.headers);
      if (otel) otel.inbound.validateUpdate(input, next);
      else next(input);
    },
    handleQuery(input: QueryInput, next: Next<WorkflowInboundCallsInterceptor, 'handleQuery'>) {
      return run.tracing(input.headers)?.inbound.handleQuery(input, next) ?? next(input);
    },
  };
}

/** What the run sends out carries its context (activities, children, continue-as-new) only when the run is traced. */
function outboundOf(run: TracedRun): WorkflowOutboundCallsInterceptor {
  const otel = () => (run.traced ? run.tracing() : undefined);
  return {
    scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>) {
      return otel()?.outbound.scheduleActivity(input, next) ?? next(input);
    },
    scheduleLocalActivity(input: LocalActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>) {
      return otel()?.outbound.scheduleLocalActivity(input, next) ?? next(input);
    },
    startChildWorkflowExecution(
      input: StartChildWorkflowExecutionInput,
      next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>,
    ) {
      return otel()?.outbound.startChildWorkflowExecution(input, next) ?? next(input);
    },
    continueAsNew(input: ContinueAsNewInput, next: Next<WorkflowOutboundCallsInterceptor, 'continueAsNew'>) {
      return otel()?.outbound.continueAsNew(input, next) ?? next(input);
    },
    signalWorkflow(input: SignalWorkflowInput, next: Next<WorkflowOutboundCallsInterceptor, 'signalWorkflow'>) {
      return otel()?.outbound.signalWorkflow(input, next) ?? next(input);
    },
    getLogAttributes(input: GetLogAttributesInput, next: Next<WorkflowOutboundCallsInterceptor, 'getLogAttributes'>) {
      return otel()?.outbound.getLogAttributes(input, next) ?? next(input);
    },
    getMetricTags(input: GetMetricTagsInput, next: Next<WorkflowOutboundCallsInterceptor, 'getMetricTags'>) {
      return otel()?.outbound.getMetricTags(input, next) ?? next(input);
    },
  };
}

function internalsOf(run: TracedRun): WorkflowInternalsInterceptor {
  return {
    dispose(input: DisposeInput, next: Next<WorkflowInternalsInterceptor, 'dispose'>) {
      // OpenTelemetry's dispose is async in name only: it calls next before returning.
      if (run.traced) void new (openTelemetry().OpenTelemetryInternalsInterceptor)().dispose(input, next);
      else next(input);
    },
  };
}

/** Called by the SDK for each workflow run (the bundle's workflowInterceptorModules). */
export const interceptors = (): WorkflowInterceptors => {
  const run = new TracedRun();
  return { inbound: [inboundOf(run)], outbound: [outboundOf(run)], internals: [internalsOf(run)] };
};
