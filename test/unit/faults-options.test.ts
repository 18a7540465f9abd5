/**
 * The fault runner's command line (scripts/faults/options.ts) and its order plan
 * (scripts/faults/plan.ts): defaults, the smoke size, every refusal naming its flag, and the
 * spread of orders over the scenario kinds.
 */
import { FAULTS, PRODUCTION_FAULTS, UsageError, commandLineOf, parseFaultArgs } from '../../scripts/faults/options';
import { SCENARIO_KINDS, faultOffsetMs, kindCounts, planOrders, seededRandom } from '../../scripts/faults/plan';

const now = () => 1234;

describe('parseFaultArgs', () => {
  test('defaults: the full run, 200 orders, all four faults, 20 s outages, the docs written', () => {
    expect(parseFaultArgs([], now)).toEqual({
      smoke: false,
      production: false,
      orders: 200,
      faults: [...FAULTS],
      outageSeconds: 20,
      rampSeconds: 60,
      deadlineSeconds: 900,
      reminderInterval: '8s',
      escalationAfter: '20s',
      writeDocs: true,
      seed: 1234,
    });
  });

  test('--smoke: 21 orders, a shorter ramp and deadline, and never the docs', () => {
    expect(parseFaultArgs(['--smoke'], now)).toMatchObject({
      smoke: true,
      orders: 21,
      rampSeconds: 12,
      deadlineSeconds: 300,
      writeDocs: false,
      outageSeconds: 20,
    });
  });

  test('--production: the production shape three faults, 30 s outages; its own names only', () => {
    expect(parseFaultArgs(['--smoke', '--production'], now)).toMatchObject({
      smoke: true,
      production: true,
      orders: 21,
      faults: [...PRODUCTION_FAULTS],
      outageSeconds: 30,
    });
    expect(parseFaultArgs(['--production', '--faults', 'postgres-stop,one-worker-kill'], now)).toMatchObject({
      faults: ['one-worker-kill', 'postgres-stop'],
    });
    expect(() => parseFaultArgs(['--production', '--faults', 'smtp-stop'], now)).toThrow(
      new UsageError('--faults must list some of one-worker-kill, temporal-restart, postgres-stop (unknown: smtp-stop)'),
    );
    expect(() => parseFaultArgs(['--faults', 'one-worker-kill'], now)).toThrow(UsageError);
  });

  test('flags take a value after a space or an equals sign; faults run in their fixed order', () => {
    expect(
      parseFaultArgs(['--orders=70', '--faults', 'smtp-stop,worker-kill', '--outage', '5', '--seed=7', '--no-docs'], now),
    ).toMatchObject({
      orders: 70,
      faults: ['worker-kill', 'smtp-stop'],
      outageSeconds: 5,
      seed: 7,
      writeDocs: false,
    });
  });

  test.each([
    [['--orders', '0'], '--orders must be a whole number from 1 to 5000 (got "0")'],
    [['--orders', 'many'], '--orders must be a whole number from 1 to 5000 (got "many")'],
    [['--orders'], '--orders needs a value'],
    [['--faults', 'meteor'], '--faults must list some of worker-kill, postgres-stop, smtp-stop, temporal-restart (unknown: meteor)'],
    [['--reminder', 'soon'], '--reminder must be a duration such as 500ms, 8s or 2m (got "soon")'],
    [['--smoke=yes'], '--smoke takes no value'],
    [['--fast'], 'unknown option "--fast"'],
    [['extra'], 'unexpected argument "extra"'],
  ])('%j is refused: %s', (argv, message) => {
    expect(() => parseFaultArgs(argv, now)).toThrow(new UsageError(message));
  });

  test('--help wins', () => {
    expect(parseFaultArgs(['--orders', '3', '--help'], now)).toBe('help');
  });

  test('commandLineOf gives the npm command that reproduces the run, quoting what needs it', () => {
    expect(commandLineOf([])).toBe('npm run test:faults');
    expect(commandLineOf(['--smoke', '--faults', 'smtp-stop'])).toBe('npm run test:faults -- --smoke --faults smtp-stop');
    expect(commandLineOf(["it's"])).toBe(`npm run test:faults -- 'it'\\''s'`);
  });
});

describe('planOrders', () => {
  test('every kind in turn, so each is in flight whenever the fault hits; evenly over the ramp', () => {
    const plan = planOrders(21, 12_000, 'sm');
    expect(plan.map((p) => p.kind)).toEqual([...SCENARIO_KINDS, ...SCENARIO_KINDS, ...SCENARIO_KINDS]);
    expect(kindCounts(plan)).toEqual(Object.fromEntries(SCENARIO_KINDS.map((k) => [k, 3])));
    expect(plan[0]).toEqual({ index: 0, kind: 'direct', suffix: 'sm0000', startOffsetMs: 0 });
    expect(plan[20].startOffsetMs).toBe(12_000);
    expect(new Set(plan.map((p) => p.suffix)).size).toBe(21);
  });

  test('200 orders: 29 of the first four kinds, 28 of the others', () => {
    expect(Object.values(kindCounts(planOrders(200, 60_000, 'wk')))).toEqual([29, 29, 29, 29, 28, 28, 28]);
  });

  test('suffixes make valid domains and IDs; a bad tag is refused', () => {
    expect(planOrders(1, 0, 'pg')[0]).toMatchObject({ suffix: 'pg0000', startOffsetMs: 0 });
    expect(() => planOrders(1, 0, 'Bad-Tag')).toThrow('tag must be 1-6 lowercase letters or digits');
  });

  test('the fault hits half-way through booking', () => {
    expect(faultOffsetMs(60_000)).toBe(30_000);
  });

  test('seededRandom repeats for a seed and stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const values = Array.from({ length: 100 }, () => a());
    expect(values).toEqual(Array.from({ length: 100 }, () => b()));
    expect(values.every((v) => v >= 0 && v < 1)).toBe(true);
    expect(new Set(values).size).toBeGreaterThan(95);
  });
});
