import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EC2Client } from '@aws-sdk/client-ec2';
import { FisClient } from '@aws-sdk/client-fis';
import { SSMClient } from '@aws-sdk/client-ssm';
import { InfraError, UsageError, errorMessage } from '../../core/errors.ts';

/**
 * The one place that builds the AWS SDK clients the AWS provider calls: for a region, with
 * timeouts on every request and the SDK's standard retries (throttling, 5xx, timeouts, with
 * exponential backoff and jitter), pointed at another endpoint where the environment says so
 * (AWS_ENDPOINT_URL, or AWS_ENDPOINT_URL_<SERVICE> for one service, as the AWS CLI and SDKs read
 * them: moto in the tests). Also the one place that turns an SDK error into a message a person
 * can act on (`awsError`).
 */

/** A connection that takes longer than this to open is a failure (and retried). */
export const CONNECT_TIMEOUT_MS = 5_000;
/** A request whose socket is idle this long is a failure (and retried). */
export const REQUEST_TIMEOUT_MS = 30_000;
/** Attempts per call, the first included (the SDK's `standard` retry mode). */
export const MAX_ATTEMPTS = 5;

/** The services this module builds clients for, by the suffix of their AWS_ENDPOINT_URL_ variable. */
export const SERVICE_ENV = {
  fis: 'FIS',
  ec2: 'EC2',
  autoScaling: 'AUTO_SCALING',
  ssm: 'SSM',
} as const;

export interface AwsClientOptions {
  region: string;
  /** Where AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> are read (process.env by default). */
  env?: Record<string, string | undefined>;
  /** Credentials; the SDK's default chain (environment, profile, instance role) without them. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Overrides, for tests. */
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  maxAttempts?: number;
}

/**
 * The endpoint a service's client is pointed at: AWS_ENDPOINT_URL_<SERVICE> (`AWS_ENDPOINT_URL_FIS`),
 * else AWS_ENDPOINT_URL, else undefined (AWS itself). Throws a UsageError naming the variable
 * when it is not an http(s) URL.
 */
export function endpointFor(service: string, env: Record<string, string | undefined>): string | undefined {
  for (const name of [`AWS_ENDPOINT_URL_${service}`, 'AWS_ENDPOINT_URL']) {
    const value = env[name]?.trim();
    if (!value) continue;
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new UsageError('BAD_ENDPOINT_URL', `${name}='${value}' is not a URL`, {
        hint: `give it as http://host:port (moto: ${name}=http://127.0.0.1:5000), or unset it to call AWS`,
      });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new UsageError('BAD_ENDPOINT_URL', `${name}='${value}' is not an http(s) URL`, {
        hint: 'give it as http://host:port or https://host',
      });
    return value;
  }
  return undefined;
}

/**
 * The configuration every client of the provider is built with: the region, timeouts, the SDK's
 * standard retries, the endpoint from the environment. `service` is the AWS_ENDPOINT_URL_ suffix
 * (`CLOUDFORMATION`, `ROUTE_53`): other parts of the provider build their clients with it too.
 */
export function clientConfig(service: string, opts: AwsClientOptions) {
  const endpoint = endpointFor(service, opts.env ?? process.env);
  return {
    region: opts.region,
    maxAttempts: opts.maxAttempts ?? MAX_ATTEMPTS,
    retryMode: 'standard',
    requestHandler: {
      connectionTimeout: opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      requestTimeout: opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
    },
    ...(endpoint ? { endpoint } : {}),
    ...(opts.credentials ? { credentials: opts.credentials } : {}),
  };
}

export interface AwsClients {
  readonly region: string;
  readonly fis: FisClient;
  readonly ec2: EC2Client;
  readonly autoScaling: AutoScalingClient;
  readonly ssm: SSMClient;
  /** Closes their connections. Safe to call more than once. */
  destroy(): void;
}

/** The FIS, EC2, Auto Scaling and Systems Manager clients for a region. */
export function awsClients(opts: AwsClientOptions): AwsClients {
  const fis = new FisClient(clientConfig(SERVICE_ENV.fis, opts));
  const ec2 = new EC2Client(clientConfig(SERVICE_ENV.ec2, opts));
  const autoScaling = new AutoScalingClient(clientConfig(SERVICE_ENV.autoScaling, opts));
  const ssm = new SSMClient(clientConfig(SERVICE_ENV.ssm, opts));
  return {
    region: opts.region,
    fis,
    ec2,
    autoScaling,
    ssm,
    destroy() {
      fis.destroy();
      ec2.destroy();
      autoScaling.destroy();
      ssm.destroy();
    },
  };
}

/** What an SDK error says about itself: its code (`name`), message, HTTP status, request id. */
export interface AwsErrorParts {
  code: string;
  message: string;
  status?: number | undefined;
  requestId?: string | undefined;
}

export function awsErrorParts(err: unknown): AwsErrorParts {
  const e = err as {
    name?: unknown;
    Code?: unknown;
    code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number; requestId?: string };
  };
  const code =
    [e?.name, e?.Code, e?.code].find((x): x is string => typeof x === 'string' && x !== 'Error') ?? 'Error';
  return {
    code,
    message: errorMessage(err).trim() || code,
    status: e?.$metadata?.httpStatusCode,
    requestId: e?.$metadata?.requestId,
  };
}

const DENIED = new Set([
  'AccessDenied',
  'AccessDeniedException',
  'UnauthorizedOperation',
  'UnauthorizedException',
  'Forbidden',
]);
const BAD_CREDENTIALS = new Set([
  'CredentialsProviderError',
  'InvalidClientTokenId',
  'UnrecognizedClientException',
  'AuthFailure',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'ExpiredTokenException',
  'RequestExpired',
]);
const UNREACHABLE = new Set(['TimeoutError', 'RequestTimeout', 'ECONNREFUSED', 'ENOTFOUND', 'ECONNRESET']);

/**
 * One clear InfraError for a failed AWS call: `what` says the call and what it was for
 * (`FIS CreateExperimentTemplate for fault #1`). AccessDenied names the permission to grant;
 * a ValidationException keeps AWS's own message, which names the field; the rest keep their code.
 */
export function awsError(what: string, err: unknown): InfraError {
  if (err instanceof InfraError) return err;
  const p = awsErrorParts(err);
  const tail = p.requestId ? ` (request ${p.requestId})` : '';
  if (DENIED.has(p.code) || p.status === 403)
    return new InfraError('AWS_ACCESS_DENIED', `${what} was denied: ${p.message}${tail}`, {
      hint: "grant the harness's credentials this action (and iam:PassRole on the experiment role for FIS), or run with credentials that have it",
      cause: err,
    });
  if (BAD_CREDENTIALS.has(p.code))
    return new InfraError('AWS_CREDENTIALS', `${what}: the AWS credentials were not accepted: ${p.message}`, {
      hint: 'set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (aws sts get-caller-identity checks them)',
      cause: err,
    });
  if (p.code === 'ValidationException' || p.code === 'InvalidParameterValue' || p.code === 'ValidationError')
    return new InfraError('AWS_INVALID_REQUEST', `${what} was refused as invalid: ${p.message}${tail}`, {
      hint: 'chaos plan <scenario> --provider aws --json shows what was sent',
      cause: err,
    });
  if (UNREACHABLE.has(p.code) || /ECONNREFUSED|ENOTFOUND|ETIMEDOUT|socket hang up/.test(p.message))
    return new InfraError('AWS_UNREACHABLE', `${what}: the AWS endpoint did not answer: ${p.message}`, {
      hint: 'check the network, the region, and AWS_ENDPOINT_URL if it is set',
      cause: err,
    });
  return new InfraError('AWS_CALL_FAILED', `${what} failed: ${p.code}: ${p.message}${tail}`, { cause: err });
}
