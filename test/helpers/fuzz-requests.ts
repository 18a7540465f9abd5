/**
 * Requests for the API fuzz test, one operation of the OpenAPI document at a time: its path
 * parameters, query, headers and JSON body each valid-but-odd or invalid (test/helpers/openapi-arbitraries.ts),
 * the body sometimes not JSON at all (malformed, empty, another content type, duplicate keys,
 * larger than the limit, thousands of levels deep), sent by one of several kinds of caller.
 */
import fc from 'fast-check';
import {
  invalidParameter,
  invalidValue,
  resolveSchema,
  validParameter,
  validValue,
  type Json,
  type JsonSchema,
  type SchemaContext,
} from './openapi-arbitraries';

export interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header';
  required: boolean;
  schema: JsonSchema;
}

/** Who may call an operation: an API key, the codec (operator key or codec session), a signed device, or anyone. */
export type Scope = 'apiKey' | 'codec' | 'deviceSigned' | 'anyone';

export interface Operation {
  method: string;
  /** As the document has it: /v1/orders/{orderId} */
  path: string;
  parameters: Parameter[];
  body?: JsonSchema;
  scope: Scope;
}

export type Caller =
  | 'anonymous'
  | 'forgedKey'
  | 'revokedKey'
  | 'partner'
  | 'distributor'
  | 'operator'
  | 'user'
  | 'codecSession'
  /** A user signed in on the pages: the browser's session cookie, which must open nothing in /v1 (CSRF). */
  | 'userSession'
  | 'device'
  | 'forgedDevice';

/** The callers an operation lets through its authentication. */
export const ADMITTED: Record<Scope, Caller[]> = {
  apiKey: ['partner', 'distributor', 'operator', 'user'],
  codec: ['operator', 'codecSession'],
  deviceSigned: ['device'],
  anyone: [
    'anonymous',
    'forgedKey',
    'revokedKey',
    'partner',
    'distributor',
    'operator',
    'user',
    'codecSession',
    'userSession',
    'device',
    'forgedDevice',
  ],
};

export type BodyKind =
  'none' | 'valid' | 'invalid' | 'duplicateKeys' | 'malformedJson' | 'empty' | 'otherContentType' | 'oversize' | 'deep' | 'stray';

export interface FuzzCase {
  operation: Operation;
  method: string;
  /** Path and query, as sent. */
  url: string;
  caller: Caller;
  headers: Record<string, string>;
  payload?: string;
  bodyKind: BodyKind;
  /** The parsed body, when it is JSON the test can check against the schema. */
  body?: Json;
  /** Every path, query and header parameter was made valid, and nothing odd was added to the query. */
  parametersMadeValid: boolean;
  /** The parameters as the server sees them, to check against the schema. */
  values: { path: Record<string, string>; query: Record<string, string>; header: Record<string, string> };
  /** The path parameters were put in the URL as they are, not percent-encoded. */
  rawPath: boolean;
}

/** Every operation of an OpenAPI document, with what the fuzz test needs of it. */
export function operationsOf(document: { paths: Record<string, Record<string, OpenApiOperation>> }): Operation[] {
  const operations: Operation[] = [];
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(methods)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: (operation.parameters ?? []).map((p) => ({ name: p.name, in: p.in, required: p.required ?? false, schema: p.schema })),
        body: operation.requestBody?.content?.['application/json']?.schema,
        scope: scopeOf(path),
      });
    }
  }
  return operations;
}

interface OpenApiOperation {
  parameters?: Array<{ name: string; in: 'path' | 'query' | 'header'; required?: boolean; schema: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema: JsonSchema }> };
}

function scopeOf(path: string): Scope {
  if (path.startsWith('/codec/')) return 'codec';
  if (/^\/v1\/devices\/\{instanceId\}\//.test(path)) return 'deviceSigned';
  if (path === '/v1/devices/registrations' || path === '/v1/license-signing-keys' || !path.startsWith('/v1/')) return 'anyone';
  return 'apiKey';
}

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/xml',
  'application/json-patch+json',
  'application/octet-stream',
];
/** Percent-encodings and path tricks a router and a decoder must survive, put in the path as they are. */
const RAW_PATH_TRICKS = ['%', '%zz', '%2e%2e', '%2F', 'a%00b', '%C0%AF', '%FF', '..', '.', '~', 'a;b=c', 'a+b'];
/** Header values the transport allows: visible ASCII and obs-text (a header cannot carry a line break). */
const headerText = fc.string({ unit: 'binary', maxLength: 60 }).map((s) => s.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?'));

/** `arbitrary`'s value once in `n` cases, null otherwise. */
function rarely<T>(arbitrary: fc.Arbitrary<T>, n: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: n - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary });
}

function callerFor(scope: Scope): fc.Arbitrary<Caller> {
  const admitted = scope === 'anyone' ? [] : ADMITTED[scope];
  const everyone: Caller[] = ADMITTED.anyone;
  return fc.oneof(
    { weight: 3, arbitrary: admitted.length ? fc.constantFrom(...admitted) : fc.constantFrom(...everyone) },
    { weight: 1, arbitrary: fc.constantFrom(...everyone) },
  );
}

/** One parameter's value: absent (when optional), valid-but-odd, or invalid. */
function parameterValue(p: Parameter, ctx: SchemaContext): fc.Arbitrary<{ value?: string; valid: boolean }> {
  const options: Array<fc.WeightedArbitrary<{ value?: string; valid: boolean }>> = [
    { weight: 6, arbitrary: validParameter(p.schema, ctx, p.name).map((value) => ({ value, valid: true })) },
    { weight: 1, arbitrary: invalidParameter(p.schema, ctx).map((value) => ({ value, valid: false })) },
  ];
  if (!p.required) options.push({ weight: 3, arbitrary: fc.constant({ value: undefined, valid: true }) });
  return fc.oneof(...options);
}

function bodyFor(
  operation: Operation,
  ctx: SchemaContext,
): fc.Arbitrary<{ kind: BodyKind; body?: Json; payload?: string; contentType?: string }> {
  const json = (kind: BodyKind, value: fc.Arbitrary<Json>) => value.map((body) => ({ kind, body, payload: JSON.stringify(body) }));
  const schema = operation.body ? resolveSchema(operation.body, ctx) : undefined;
  const valid = schema ? validValue(schema, ctx) : (fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>);
  const limit = operation.scope === 'deviceSigned' || operation.path.startsWith('/v1/devices/') ? 64 * 1024 : 1024 * 1024;
  const odd: Array<fc.WeightedArbitrary<{ kind: BodyKind; body?: Json; payload?: string; contentType?: string }>> = [
    { weight: 2, arbitrary: valid.map((body) => ({ kind: 'duplicateKeys' as const, payload: withDuplicateKey(body) })) },
    {
      weight: 2,
      arbitrary: fc
        .tuple(valid, malformedJson)
        .map(([body, spoil]) => ({ kind: 'malformedJson' as const, payload: spoil(JSON.stringify(body)) })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const, payload: '' }) },
    {
      weight: 2,
      arbitrary: fc.tuple(valid, fc.constantFrom(...CONTENT_TYPES)).map(([body, contentType]) => ({
        kind: 'otherContentType' as const,
        payload: JSON.stringify(body),
        contentType,
      })),
    },
    { weight: 1, arbitrary: fc.constant({ kind: 'oversize' as const, payload: JSON.stringify({ padding: 'x'.repeat(limit) }) }) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: 1_000, max: 20_000 })
        .map((depth) => ({ kind: 'deep' as const, payload: '['.repeat(depth) + ']'.repeat(depth) })),
    },
  ];
  if (!schema) {
    return fc.oneof(
      { weight: 12, arbitrary: fc.constant({ kind: 'none' as const }) },
      { weight: 2, arbitrary: json('stray', valid) },
      ...odd,
    );
  }
  return fc.oneof(
    { weight: 8, arbitrary: json('valid', valid) },
    { weight: 8, arbitrary: json('invalid', invalidValue(schema, ctx)) },
    { weight: 1, arbitrary: fc.constant({ kind: 'none' as const }) },
    ...odd,
  );
}

/** The JSON of an object with its first key written twice (the second with another value); other values as they are. */
function withDuplicateKey(body: Json): string {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length === 0) return JSON.stringify(body);
  const [first] = Object.keys(body);
  const rest = JSON.stringify(body).slice(1);
  return `{${JSON.stringify(first)}:${JSON.stringify({ duplicated: [1, 'two'] })},${rest}`;
}

const malformedJson: fc.Arbitrary<(text: string) => string> = fc.constantFrom(
  (t: string) => t.slice(0, Math.max(1, Math.floor(t.length / 2))),
  (t: string) => `${t},`,
  (t: string) => t.replace(/"/g, "'"),
  (t: string) => `\ufeff${t}`,
  (t: string) => `${t}${t}`,
  () => '{"a": NaN}',
  () => '{"a": undefined}',
  () => '{"__proto__": {"admin": true}}',
  () => '{"constructor": {"prototype": {"admin": true}}}',
  () => '\u0000',
  () => 'null',
);

export function fuzzCase(operation: Operation, ctx: SchemaContext): fc.Arbitrary<FuzzCase> {
  const inPart = (part: Parameter['in']) => operation.parameters.filter((p) => p.in === part);
  const valuesOf = (ps: Parameter[]) => fc.tuple(...ps.map((p) => parameterValue(p, ctx)));
  return fc
    .record({
      caller: callerFor(operation.scope),
      path: valuesOf(inPart('path')),
      rawPath: rarely(fc.constantFrom(...RAW_PATH_TRICKS), 12),
      query: valuesOf(inPart('query')),
      oddQuery: rarely(fc.constantFrom('dup', 'unknown', 'array', 'empty'), 6),
      header: valuesOf(inPart('header')),
      body: bodyFor(operation, ctx),
      method: rarely(fc.constantFrom('PATCH', 'PUT', 'DELETE', 'GET', 'POST', 'OPTIONS'), 25),
      extraHeaders: rarely(
        fc.dictionary(fc.constantFrom('x-forwarded-for', 'accept', 'x-namespace', 'cookie', 'origin', 'x-request-id'), headerText),
        5,
      ),
    })
    .map((drawn) => {
      const named = (ps: Parameter[], values: Array<{ value?: string }>) =>
        Object.fromEntries(ps.flatMap((p, i) => (values[i].value === undefined ? [] : [[p.name, values[i].value]])));
      const path = named(inPart('path'), drawn.path);
      const query = named(inPart('query'), drawn.query);
      const header = named(inPart('header'), drawn.header);
      let url = operation.path.replace(/\{(\w+)\}/g, (_m, name: string) =>
        drawn.rawPath !== null ? drawn.rawPath : encodeURIComponent(wellFormed(path[name] ?? '')),
      );
      const search = new URLSearchParams(query);
      if (drawn.oddQuery === 'dup') for (const [key, value] of Object.entries(query)) search.append(key, value);
      if (drawn.oddQuery === 'unknown') search.append('admin', 'true');
      if (drawn.oddQuery === 'array') search.append('limit[]', '1');
      const text = search.toString();
      url += drawn.oddQuery === 'empty' ? '?' : text ? `?${text}` : '';
      const headers: Record<string, string> = { ...(drawn.extraHeaders ?? {}) };
      for (const [name, value] of Object.entries(header)) headers[name] = value.replace(/[^\t\x20-\x7e\x80-\xff]/g, '?');
      if (drawn.body.payload !== undefined) headers['content-type'] = drawn.body.contentType ?? 'application/json';
      const parametersMadeValid =
        drawn.rawPath === null && drawn.oddQuery === null && [...drawn.path, ...drawn.query, ...drawn.header].every((v) => v.valid);
      return {
        operation,
        method: drawn.method ?? operation.method,
        url,
        caller: drawn.caller,
        headers,
        payload: drawn.body.payload,
        bodyKind: drawn.body.kind,
        body: drawn.body.body,
        parametersMadeValid,
        values: { path, query, header },
        rawPath: drawn.rawPath !== null,
      };
    });
}

/** A lone surrogate cannot travel in a URL (it has no UTF-8): it becomes U+FFFD, as URLSearchParams makes it. */
function wellFormed(text: string): string {
  return text.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd');
}

/** Any case of any operation, the operations equally often. */
export function anyFuzzCase(operations: Operation[], ctx: SchemaContext): fc.Arbitrary<FuzzCase> {
  const perOperation = operations.map((operation) => fuzzCase(operation, ctx));
  return fc.noBias(fc.integer({ min: 0, max: operations.length - 1 })).chain((i) => perOperation[i]);
}
