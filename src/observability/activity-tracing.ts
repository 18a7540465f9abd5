import type { Tracer } from '@opentelemetry/api';
import type { Context as ActivityContext } from '@temporalio/activity';
import { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import { TRACE_HEADER } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import type {
  ActivityExecuteInput,
  ActivityInterceptors,
  ActivityInterceptorsFactory,
  Next,
  ActivityInboundCallsInterceptor,
} from '@temporalio/worker';

/**
 * OpenTelemetry's activity interceptors, for activities whose workflow run is traced (their
 * headers carry its context). Others, the license clock's every minute, start no trace of their
 * own: a trace here is always part of a booking's, or a request's.
 */
export function tracedActivityInterceptors(tracer: Tracer): ActivityInterceptorsFactory {
  return (ctx: ActivityContext): ActivityInterceptors => {
    const otel = new OpenTelemetryActivityInboundInterceptor(ctx, { tracer });
    return {
      inbound: {
        execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>) {
          return TRACE_HEADER in input.headers ? otel.execute(input, next) : next(input);
        },
      },
      outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
    };
  };
}
