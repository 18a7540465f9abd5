import { renderAlertEmail, renderTrueUpReportEmail } from '../../src/licensing/license-emails';

test('an alert email says what happened, where, and what to do; the HTML escapes every value', () => {
  const email = renderAlertEmail({
    kind: 'licenses_expiring',
    message: '10 <SKU> licenses in Finance expire on 2027-01-01 (in 30 days)',
    accountName: 'Acme & Co',
    virtualAccountPath: 'Finance',
    day: '2026-12-02',
    recipientName: 'Ada\r\nBcc: x@y',
    pagesUrl: 'https://licenses.example.com/v1/accounts/sa-acme/alerts',
  });
  expect(email.subject).toBe('Licenses expiring: Acme & Co / Finance');
  expect(email.text).toContain('Hello Ada Bcc: x@y,');
  expect(email.text).toContain('What to do: Renew the subscription');
  expect(email.html).toContain('Acme &amp; Co');
  expect(email.html).toContain('10 &lt;SKU&gt; licenses');
  expect(email.html).not.toContain('<SKU>');
});

test('the overage report lists each peak and the true-up orders', () => {
  const email = renderTrueUpReportEmail({
    accountName: 'Acme',
    period: { startsOn: '2026-01-01', endsOn: '2026-04-01' },
    lines: [{ virtualAccountPath: 'Finance', sku: 'ISR4K', peak: 3 }],
    orderReferences: ['TRUEUP-sa-acme-2026-01-01-VA1'],
  });
  expect(email.subject).toBe('Overage report 2026-01-01 to 2026-04-01: Acme');
  expect(email.text).toContain('Finance: ISR4K peak overage 3');
  expect(email.text).toContain('TRUEUP-sa-acme-2026-01-01-VA1');
  expect(email.html).toContain('<td>Finance</td><td>ISR4K</td><td>3</td>');
});
