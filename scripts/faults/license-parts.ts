/** Which license-use work each fault run does (scripts/faults/license-use.ts), sized for a smoke or a full run. */
import { alertPart } from './license-alerts';
import { devicePart } from './license-devices';
import { trueUpPart } from './license-true-ups';
import { NO_LICENSE_USE, type LicenseUseContext, type LicenseUsePart } from './license-use';

export function licenseUsePartFor(ctx: LicenseUseContext, smoke: boolean): LicenseUsePart {
  switch (ctx.fault) {
    case 'worker-kill':
      return trueUpPart(ctx, smoke ? 3 : 10);
    case 'postgres-stop':
      return devicePart(ctx, smoke ? 6 : 20);
    case 'smtp-stop':
      return alertPart(ctx);
    default:
      return NO_LICENSE_USE;
  }
}
