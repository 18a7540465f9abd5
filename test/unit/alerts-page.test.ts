/**
 * Issue 18 item 1: the alerts page says when an alert's email was refused for good, so the
 * operator (GET /v1/emails) can resend it; an alert whose emails went out says sent.
 */
import { alertsPage } from '../../src/licensing/pages/activity-pages';
import type { AlertLine } from '../../src/licensing/views-activity';
import type { ViewScope } from '../../src/licensing/views-access';

const scope = {
  accountId: 'sa-acme',
  accountName: 'Acme',
  accountStatus: 'active',
  roles: [],
  wholeAccount: true,
  virtualAccounts: [],
} as unknown as ViewScope;

const alert = (alertId: string, emailDelivery: AlertLine['emailDelivery']): AlertLine => ({
  alertId,
  virtualAccountPath: 'Finance',
  kind: 'overage_report',
  subject: `test:${alertId}`,
  day: '2026-12-06',
  message: `Alert ${alertId}`,
  createdAt: '2026-12-06T10:00:00.000Z',
  emailDelivery,
});

test.each([
  [{ sent: 0, pending: 0, failed: 1 }, 'delivery failed (1 of 1)'],
  [{ sent: 2, pending: 0, failed: 1 }, 'delivery failed (1 of 3)'],
  [{ sent: 0, pending: 1, failed: 0 }, 'sending'],
  [{ sent: 2, pending: 0, failed: 0 }, 'sent'],
])('emails %o: the Email column says "%s"', (delivery, text) => {
  const page = alertsPage({ name: 'Ops', csrfToken: 'x' }, scope, [alert('1', delivery)]).body.toString();
  expect(page).toContain(`>${text}<`);
});
