/**
 * Values for the API fuzz test (test/integration/api-fuzz.test.ts), made from the JSON schemas in
 * the API's own OpenAPI document: valid-but-odd ones (boundary lengths and numbers, any unicode the
 * pattern allows, empty and full arrays, extra properties where allowed) and invalid ones (another
 * JSON type, a string the pattern or length refuses, a number out of range, a missing required or
 * unknown property, an array too long or too short, one bad item or property deep inside).
 *
 * Whether a value really is valid is not this file's business: the test asks Ajv, as the server does.
 */
import fc from 'fast-check';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The parts of a JSON schema the API's OpenAPI document uses. */
export interface JsonSchema {
  $ref?: string;
  type?: string;
  enum?: Json[];
  const?: Json;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  maxProperties?: number;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
}

export interface SchemaContext {
  /** Resolves `#/components/schemas/<name>` references. */
  components: Record<string, JsonSchema>;
  /** Values that exist in the test's world for a field or parameter of this name (IDs, paths, domains). */
  known(name: string): string[];
}

export function resolveSchema(schema: JsonSchema, ctx: SchemaContext): JsonSchema {
  if (!schema.$ref) return schema;
  const name = schema.$ref.replace('#/components/schemas/', '');
  const target = ctx.components[name];
  if (!target) throw new Error(`unresolved schema reference ${schema.$ref}`);
  return resolveSchema(target, ctx);
}

// ---------------------------------------------------------------- strings

const SQL_AND_HEADER_TRICKS = [
  "' OR 1=1 --",
  "'; DROP TABLE orders; --",
  'x\r\nBcc: evil@evil.test',
  '%00',
  '..',
  '../../etc/passwd',
  '${jndi:x}',
];
/** Text no pattern thought of: any code point (lone surrogates too), graphemes, control characters, tricks. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom('\u0000', '\u0007', '\n', '\u007f', '\u0085', '\u200b', '\u2028', '\ufeff', '\ud800'), maxLength: 5 }),
  fc.constantFrom(...SQL_AND_HEADER_TRICKS),
);

const regexCache = new Map<string, RegExp>();
/** The pattern as Ajv compiles it (unicode mode). */
export function patternRegex(pattern: string): RegExp {
  let regex = regexCache.get(pattern);
  if (!regex) regexCache.set(pattern, (regex = new RegExp(pattern, 'u')));
  return regex;
}

function fitsLength(text: string, schema: JsonSchema): boolean {
  // JSON schema counts code points, as Ajv does.
  const length = [...text].length;
  return length >= (schema.minLength ?? 0) && length <= (schema.maxLength ?? Infinity);
}

function matches(text: string, schema: JsonSchema): boolean {
  return fitsLength(text, schema) && (!schema.pattern || patternRegex(schema.pattern).test(text));
}

/**
 * Strings a pattern accepts. fast-check cannot generate lookaheads, so a leading `(?=...)` (a
 * length or local-part bound) is generated without and checked after.
 */
function patternStrings(schema: JsonSchema): fc.Arbitrary<string> {
  const pattern = schema.pattern!;
  const withoutLookahead = pattern.replace(/^\^\(\?=(?:[^()]|\([^()]*\))*\)/, '^');
  return fc.stringMatching(new RegExp(withoutLookahead)).filter((text) => matches(text, schema));
}

/** Dates and times at the edges of what a calendar allows (and some it does not: the server must say 400, not 500). */
const oddDate = fc.oneof(
  fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }),
  fc.constantFrom(new Date('1970-01-01T00:00:00Z'), new Date('2038-01-19T03:14:08Z'), new Date('2026-02-28T23:59:59.999Z')),
);

function validString(schema: JsonSchema, name: string | undefined, ctx: SchemaContext): fc.Arbitrary<string> {
  let generated: fc.Arbitrary<string>;
  if (schema.format === 'date-time') generated = oddDate.map((d) => d.toISOString());
  else if (schema.format === 'date') generated = oddDate.map((d) => d.toISOString().slice(0, 10));
  else if (schema.pattern) generated = patternStrings(schema);
  else {
    const min = schema.minLength ?? 0;
    const max = Math.min(schema.maxLength ?? 300, 5_000);
    generated = fc.oneof(
      fc.string({ unit: 'grapheme-composite', minLength: min, maxLength: Math.min(max, 40) }),
      // Exactly at the bounds, in characters outside the basic plane.
      fc.constantFrom(min, max).map((n) => '𝄞'.repeat(n)),
    );
  }
  const known = name ? ctx.known(name) : [];
  return known.length > 0 ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known) }, { weight: 2, arbitrary: generated }) : generated;
}

/** Strings `schema` refuses (or another type, when any string would do). Never a filter that might never pass. */
function invalidString(schema: JsonSchema): fc.Arbitrary<Json> {
  const options: Array<fc.Arbitrary<Json>> = [];
  // Hostile text is mostly refused by a pattern; without one it is mostly fine, so it is not tried then.
  if (schema.pattern) options.push(hostileText.filter((text) => !matches(text, schema)));
  if (schema.maxLength !== undefined) options.push(fc.constantFrom(schema.maxLength + 1, 20_000).map((n) => 'a'.repeat(n)));
  if (schema.minLength) options.push(fc.constant('a'.repeat(schema.minLength - 1)));
  const tricks = ['', ' ', 'a b', 'A'.repeat(300), 'é', '\u0000', 'x/y'].filter((text) => !matches(text, schema));
  if (tricks.length > 0) options.push(fc.constantFrom(...tricks));
  if (options.length === 0) options.push(wrongType(schema));
  return fc.oneof(...options);
}

// ---------------------------------------------------------------- numbers

function validNumber(schema: JsonSchema): fc.Arbitrary<number> {
  const integer = schema.type === 'integer';
  const min = schema.minimum ?? (integer ? Number.MIN_SAFE_INTEGER : -1e308);
  const max = schema.maximum ?? (integer ? Number.MAX_SAFE_INTEGER : 1e308);
  const edges = [min, max, min + 1, max - 1, 0, 1].filter((n) => n >= min && n <= max);
  const inside = integer ? fc.integer({ min, max }) : fc.double({ min, max, noNaN: true, noDefaultInfinity: true });
  return fc.oneof(fc.constantFrom(...edges), inside);
}

function invalidNumber(schema: JsonSchema): fc.Arbitrary<Json> {
  const options: number[] = [1e308, -1e308, 2 ** 53, -(2 ** 53)];
  if (schema.minimum !== undefined) options.push(schema.minimum - 1, schema.minimum - 0.5);
  if (schema.maximum !== undefined) options.push(schema.maximum + 1, schema.maximum + 0.5);
  if (schema.type === 'integer') options.push(1.5, 0.1, 1e-7);
  return fc.constantFrom(...options);
}

// ---------------------------------------------------------------- any schema

/** A value of another JSON type than the schema's (a `"5"` for 5, an object for a string...). */
function wrongType(schema: JsonSchema): fc.Arbitrary<Json> {
  const type = schema.type;
  const all: Array<[string, fc.Arbitrary<Json>]> = [
    ['string', fc.constantFrom('5', 'true', '', 'null')],
    ['number', fc.constantFrom(5, 0, -1, 1.5)],
    ['boolean', fc.boolean()],
    ['null', fc.constant(null)],
    ['array', fc.constantFrom<Json>([], ['a'], [{}])],
    ['object', fc.constantFrom<Json>({}, { a: 1 })],
  ];
  const others = all.filter(([t]) => t !== type && !(type === 'integer' && t === 'number') && !(type === 'number' && t === 'number'));
  return fc.oneof(...others.map(([, arbitrary]) => arbitrary));
}

/** A valid-but-odd value of `schema`; `name` is the field's or parameter's name, for known values. */
export function validValue(rawSchema: JsonSchema, ctx: SchemaContext, name?: string): fc.Arbitrary<Json> {
  const schema = resolveSchema(rawSchema, ctx);
  const branches = schema.oneOf ?? schema.anyOf;
  if (branches) return fc.oneof(...branches.map((b) => validValue({ ...schema, oneOf: undefined, anyOf: undefined, ...b }, ctx, name)));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  switch (schema.type) {
    case 'string':
      return validString(schema, name, ctx);
    case 'integer':
    case 'number':
      return validNumber(schema);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array':
      return validArray(schema, ctx, name);
    case 'object':
      return validObject(schema, ctx);
    default:
      return fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>;
  }
}

function validArray(schema: JsonSchema, ctx: SchemaContext, name?: string): fc.Arbitrary<Json> {
  const item = validValue(schema.items ?? {}, ctx, name);
  const minLength = schema.minItems ?? 0;
  const maxLength = Math.min(schema.maxItems ?? 6, 6);
  const some = schema.uniqueItems
    ? fc.uniqueArray(item, { minLength, maxLength, selector: (v) => JSON.stringify(v) })
    : fc.array(item, { minLength, maxLength });
  if (schema.maxItems === undefined || schema.maxItems <= maxLength || schema.uniqueItems) return some;
  // Full: as many items as allowed (copies of one).
  const full = item.map((v) => Array.from({ length: schema.maxItems! }, () => v));
  return fc.oneof({ weight: 5, arbitrary: some }, { weight: 1, arbitrary: full });
}

function validObject(schema: JsonSchema, ctx: SchemaContext): fc.Arbitrary<Json> {
  const properties = schema.properties ?? {};
  const record = fc.record(Object.fromEntries(Object.entries(properties).map(([key, child]) => [key, validValue(child, ctx, key)])), {
    requiredKeys: (schema.required ?? []).filter((key) => key in properties),
  }) as fc.Arbitrary<Record<string, Json>>;
  const extra = schema.additionalProperties;
  if (extra === false) return record;
  // A map (usage per SKU) or an open object: extra keys of any text, as many as allowed.
  const valueSchema = typeof extra === 'object' ? extra : {};
  const extras = fc.dictionary(fc.oneof(fc.string({ maxLength: 12 }), hostileText), validValue(valueSchema, ctx, 'sku'), {
    maxKeys: Math.min(schema.maxProperties ?? 4, 4),
  });
  return fc.tuple(record, extras).map(([known, more]) => {
    const merged: Record<string, Json> = {};
    for (const [key, value] of Object.entries(more)) if (!(key in properties)) defineKey(merged, key, value);
    for (const [key, value] of Object.entries(known)) defineKey(merged, key, value);
    return merged;
  });
}

/** Keys are defined, not assigned, so "__proto__" becomes a real key. */
function defineKey(target: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A value `schema` refuses: one mutation, at the top or (through objects and arrays) deep inside. */
export function invalidValue(rawSchema: JsonSchema, ctx: SchemaContext): fc.Arbitrary<Json> {
  const schema = resolveSchema(rawSchema, ctx);
  const options: Array<fc.Arbitrary<Json>> = [];
  if (schema.type) options.push(wrongType(schema));
  if (schema.enum) options.push(hostileText.filter((text) => !schema.enum!.includes(text)));
  if (schema.type === 'string' && !schema.enum) options.push(invalidString(schema));
  if (schema.type === 'integer' || schema.type === 'number') options.push(invalidNumber(schema));
  if (schema.type === 'array') options.push(...invalidArrays(schema, ctx));
  if (schema.type === 'object' && !schema.oneOf && !schema.anyOf) options.push(...invalidObjects(schema, ctx));
  const branches = schema.oneOf ?? schema.anyOf;
  // A union (the assignment): a valid branch with one of its own properties broken, or an unknown kind.
  if (branches && schema.type === 'object') {
    options.push(...branches.map((b) => fc.oneof(...invalidObjects({ ...b, type: 'object' }, ctx))));
    options.push(fc.constant({ kind: 'no_such_kind' }), fc.constant({}));
  }
  if (options.length === 0) options.push(fc.constant({ unexpected: true }));
  return fc.oneof(...options);
}

function invalidArrays(schema: JsonSchema, ctx: SchemaContext): Array<fc.Arbitrary<Json>> {
  const item = validValue(schema.items ?? {}, ctx);
  const options: Array<fc.Arbitrary<Json>> = [
    fc.tuple(fc.array(item, { maxLength: 3 }), invalidValue(schema.items ?? {}, ctx)).map(([good, bad]) => [...good, bad]),
  ];
  if (schema.minItems) options.push(fc.constant([]));
  if (schema.maxItems !== undefined) options.push(item.map((v) => Array.from({ length: schema.maxItems! + 1 }, () => v)));
  if (schema.uniqueItems) options.push(item.map((v) => [v, v]));
  return options;
}

function invalidObjects(schema: JsonSchema, ctx: SchemaContext): Array<fc.Arbitrary<Json>> {
  const valid = validObject(schema, ctx) as fc.Arbitrary<Record<string, Json>>;
  const properties = Object.entries(schema.properties ?? {});
  const options: Array<fc.Arbitrary<Json>> = [];
  for (const key of schema.required ?? []) options.push(valid.map(({ [key]: _dropped, ...rest }) => rest));
  if (schema.additionalProperties === false) {
    const unknownKey = fc.oneof(fc.constantFrom('__proto__', 'constructor', 'role', 'admin', 'id'), fc.string({ maxLength: 10 }));
    options.push(
      fc
        .tuple(
          valid,
          unknownKey.filter((key) => !(schema.properties ?? {})[key]),
          fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>,
        )
        .map(([object, key, value]) => {
          const copy = { ...object };
          defineKey(copy, key, value);
          return copy;
        }),
    );
  }
  if (typeof schema.additionalProperties === 'object') {
    options.push(fc.tuple(valid, invalidValue(schema.additionalProperties, ctx)).map(([object, bad]) => ({ ...object, 'X-SKU': bad })));
  }
  if (schema.maxProperties !== undefined) {
    options.push(fc.constant(Object.fromEntries(Array.from({ length: schema.maxProperties + 1 }, (_, i) => [`SKU-${i}`, 1]))));
  }
  for (const [key, child] of properties) {
    options.push(fc.tuple(valid, invalidValue(child, ctx)).map(([object, bad]) => ({ ...object, [key]: bad })));
  }
  return options;
}

/** Text a path or query parameter of `schema` accepts, as it travels (numbers and booleans as text). */
export function validParameter(schema: JsonSchema, ctx: SchemaContext, name: string): fc.Arbitrary<string> {
  return validValue(schema, ctx, name).map((v) => (typeof v === 'string' ? v : JSON.stringify(v)));
}

/** Text a parameter of `schema` refuses (or that could only name nothing): wrong characters, lengths, numbers. */
export function invalidParameter(rawSchema: JsonSchema, ctx: SchemaContext): fc.Arbitrary<string> {
  const schema = resolveSchema(rawSchema, ctx);
  const options: Array<fc.Arbitrary<string>> = [
    hostileText,
    fc.constantFrom('-1', '0', '1.5', '1e400', 'NaN', 'true', 'null', '[]', '{}', 'a'.repeat(5_000)),
  ];
  if (schema.type === 'string' && !schema.enum)
    options.push(invalidString(schema).map((v) => (typeof v === 'string' ? v : JSON.stringify(v))));
  if (schema.type === 'integer' || schema.type === 'number') options.push(invalidNumber(schema).map(String));
  return fc.oneof(...options);
}
