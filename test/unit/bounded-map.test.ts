import { BoundedMap, boundedMapsPer } from '../../src/common/bounded-map';

test('a BoundedMap forgets its oldest key when a new one would pass the limit, not when a key is set again', () => {
  const map = new BoundedMap<string, number>(2);
  map.set('a', 1).set('b', 2).set('a', 3);
  expect([...map.entries()]).toEqual([
    ['a', 3],
    ['b', 2],
  ]);
  map.set('c', 4);
  expect([...map.keys()]).toEqual(['b', 'c']);
});

test('boundedMapsPer keeps one map per owner', () => {
  const mapOf = boundedMapsPer<object, string, number>(1);
  const [one, two] = [{}, {}];
  mapOf(one).set('x', 1);
  expect(mapOf(one).get('x')).toBe(1);
  expect(mapOf(two).size).toBe(0);
  mapOf(one).set('y', 2);
  expect([...mapOf(one).keys()]).toEqual(['y']);
});
