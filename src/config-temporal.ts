/**
 * Where the Temporal frontend is and how to prove who we are to it (TLS, mTLS, API key), read the
 * way Temporal's own CLI and SDKs read it (@temporalio/envconfig), so one profile file or one set
 * of TEMPORAL_* variables serves `temporal` and this product alike.
 *
 * Precedence, field by field: a TEMPORAL_* variable, else the profile (TEMPORAL_PROFILE, default
 * "default") of the profile file (TEMPORAL_CONFIG_FILE, default ~/.config/temporalio/temporal.toml,
 * skipped when absent), else the product's default (TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE in
 * CONFIG_VARIABLES). Empty variables count as unset, as everywhere else in src/config.ts.
 */
import { existsSync } from 'node:fs';
import { loadClientConfigProfile, type ClientConfigProfile, type ClientConfigTLS, type ConfigDataSource } from '@temporalio/envconfig';
import { hostPortProblem, nameProblem, type Env } from './config-readers';
import { CONFIG_VARIABLES } from './config-variables';

/** Temporal's own connection variables (besides TEMPORAL_ADDRESS and TEMPORAL_NAMESPACE), as the Temporal CLI reads them. */
export const TEMPORAL_CONNECTION_VARIABLES = {
  TEMPORAL_CONFIG_FILE:
    'TOML file of connection profiles, in the Temporal CLI format (default ~/.config/temporalio/temporal.toml, read when it exists)',
  TEMPORAL_PROFILE: 'profile of that file to use (default `default`); a profile that is not there stops the process',
  TEMPORAL_API_KEY: '**secret**: API key sent as `authorization: Bearer <key>` on every call (Temporal Cloud); turns TLS on',
  TEMPORAL_TLS: '`true` or `false`: TLS on or off whatever else is set (on by default once any other TLS setting or an API key is given)',
  TEMPORAL_TLS_CLIENT_CERT_PATH: 'client certificate (PEM) for mTLS; or `TEMPORAL_TLS_CLIENT_CERT_DATA` with the PEM itself',
  TEMPORAL_TLS_CLIENT_KEY_PATH: "that certificate's private key (PEM); or `TEMPORAL_TLS_CLIENT_KEY_DATA`",
  TEMPORAL_TLS_SERVER_CA_CERT_PATH:
    "CA the server's certificate must chain to (default: the system's roots); or `TEMPORAL_TLS_SERVER_CA_CERT_DATA`",
  TEMPORAL_TLS_SERVER_NAME: "name the server's certificate must carry, when it is not the host of the address",
  TEMPORAL_GRPC_META_NAME: 'a gRPC header `name` sent on every call (underscores become dashes)',
} as const;

export type TemporalConnectionVariable = keyof typeof TEMPORAL_CONNECTION_VARIABLES;

/** The connection part of Config.temporal. Certificates stay paths here: they are read when connecting. */
export interface TemporalConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: ClientConfigTLS;
  grpcMeta?: Record<string, string>;
}

type ConnectionVariable = 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | TemporalConnectionVariable;
type Fail = (variable: ConnectionVariable, reason: string) => void;

const TLS_SOURCES: Array<{ field: 'clientCert' | 'clientKey' | 'serverCACert'; variable: TemporalConnectionVariable; key: string }> = [
  { field: 'clientCert', variable: 'TEMPORAL_TLS_CLIENT_CERT_PATH', key: 'tls.client_cert_path' },
  { field: 'clientKey', variable: 'TEMPORAL_TLS_CLIENT_KEY_PATH', key: 'tls.client_key_path' },
  { field: 'serverCACert', variable: 'TEMPORAL_TLS_SERVER_CA_CERT_PATH', key: 'tls.server_ca_cert_path' },
];

/**
 * The resolved connection settings. Each bad or missing piece is reported through `fail`, naming
 * the variable that set it, or TEMPORAL_CONFIG_FILE and the profile's key when the file did.
 */
export function readTemporalConnection(env: Env, fail: Fail): TemporalConnectionSettings {
  const set = setVariables(env);
  const profile = loadProfile(set, fail);
  const blame = (variable: ConnectionVariable, key: string, problem: string) => {
    if (set[variable] !== undefined) fail(variable, problem);
    else fail('TEMPORAL_CONFIG_FILE', `${profileName(set)}: ${key} ${problem} (${describeFile(set)})`);
  };
  const address = profile.address ?? CONFIG_VARIABLES.TEMPORAL_ADDRESS.default;
  const addressProblem = hostPortProblem(address);
  if (addressProblem) blame('TEMPORAL_ADDRESS', 'address', addressProblem);
  const namespace = profile.namespace ?? CONFIG_VARIABLES.TEMPORAL_NAMESPACE.default;
  const namespaceProblem = nameProblem(namespace);
  if (namespaceProblem) blame('TEMPORAL_NAMESPACE', 'namespace', namespaceProblem);
  if (set.TEMPORAL_TLS !== undefined && !/^(true|false|1|0)$/.test(set.TEMPORAL_TLS)) {
    fail('TEMPORAL_TLS', `must be true, false, 1 or 0 (got "${set.TEMPORAL_TLS}")`);
  }
  if (profile.tls && !profile.tls.disabled) {
    for (const { field, variable, key } of TLS_SOURCES) {
      const source: ConfigDataSource | undefined = profile.tls[field];
      if (source && 'path' in source && !existsSync(source.path)) blame(variable, `${key}:`, `no such file (got "${source.path}")`);
    }
    if (Boolean(profile.tls.clientCert) !== Boolean(profile.tls.clientKey)) {
      fail(
        profile.tls.clientCert ? 'TEMPORAL_TLS_CLIENT_KEY_PATH' : 'TEMPORAL_TLS_CLIENT_CERT_PATH',
        "mTLS needs a client certificate and its key, both (the variables or the profile's tls.client_cert_path and tls.client_key_path)",
      );
    }
  }
  return { address, namespace, apiKey: profile.apiKey, tls: profile.tls, grpcMeta: profile.grpcMeta };
}

/** The environment without empty values (this project's "unset"); gRPC header variables keep theirs (empty removes a header). */
function setVariables(env: Env): Record<string, string> {
  const set: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (name.startsWith('TEMPORAL_GRPC_META_')) set[name] = value;
    else if (value.trim() !== '') set[name] = value.trim();
  }
  return set;
}

function loadProfile(set: Record<string, string>, fail: Fail): ClientConfigProfile {
  const file = set.TEMPORAL_CONFIG_FILE;
  // envconfig treats a missing file as "no profiles"; a file named on purpose must be there.
  if (file !== undefined && !existsSync(file)) {
    fail('TEMPORAL_CONFIG_FILE', `no such file (got "${file}")`);
    return loadClientConfigProfile({ overrideEnvVars: set, disableFile: true });
  }
  try {
    return loadClientConfigProfile({ overrideEnvVars: set });
  } catch (err) {
    // envconfig 1.24 trips over a file with no [profile.*] table at all: that is a file of no profiles.
    if (err instanceof TypeError) {
      if (set.TEMPORAL_PROFILE !== undefined)
        fail('TEMPORAL_PROFILE', `Profile '${set.TEMPORAL_PROFILE}' not found (${describeFile(set)} has no profiles)`);
      return loadClientConfigProfile({ overrideEnvVars: set, disableFile: true });
    }
    const message = err instanceof Error ? err.message : String(err);
    const variable = /^Profile '/.test(message) ? 'TEMPORAL_PROFILE' : 'TEMPORAL_CONFIG_FILE';
    fail(variable, `${message} (${describeFile(set)})`);
    return loadClientConfigProfile({ overrideEnvVars: set, disableFile: true });
  }
}

function describeFile(set: Record<string, string>): string {
  return `profile file ${set.TEMPORAL_CONFIG_FILE ?? '~/.config/temporalio/temporal.toml'}`;
}

function profileName(set: Record<string, string>): string {
  return `profile "${set.TEMPORAL_PROFILE ?? 'default'}"`;
}
