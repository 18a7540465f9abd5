/**
 * A Map that forgets its oldest entry (insertion order) when a new key would take it past `limit`:
 * the memos of what was already verified (API keys, device credentials, session tickets) stay
 * bounded however many callers come.
 */
export class BoundedMap<K, V> extends Map<K, V> {
  constructor(private readonly limit: number) {
    super();
  }

  override set(key: K, value: V): this {
    if (!this.has(key) && this.size >= this.limit) this.delete(this.keys().next().value!);
    return super.set(key, value);
  }
}

/** One BoundedMap per owner (a key set, say), made on first use and dropped with its owner. */
export function boundedMapsPer<O extends object, K, V>(limit: number): (owner: O) => BoundedMap<K, V> {
  const maps = new WeakMap<O, BoundedMap<K, V>>();
  return (owner) => {
    let map = maps.get(owner);
    if (!map) maps.set(owner, (map = new BoundedMap<K, V>(limit)));
    return map;
  };
}
