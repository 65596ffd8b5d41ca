import { AutoScalingServiceException } from '@aws-sdk/client-auto-scaling';
import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { ConflictException, FisServiceException, ValidationException } from '@aws-sdk/client-fis';
import { describe, expect, it } from 'vitest';
import { InfraError } from '../../core/errors.ts';
import {
  CONNECT_TIMEOUT_MS,
  MAX_ATTEMPTS,
  REQUEST_TIMEOUT_MS,
  awsClients,
  awsError,
  clientConfig,
  endpointFor,
} from './aws-clients.ts';

const meta = { httpStatusCode: 400, requestId: 'req-1' };

describe('endpointFor', () => {
  it("a service's own variable first, then AWS_ENDPOINT_URL, else AWS itself", () => {
    const env = { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AWS_ENDPOINT_URL_FIS: 'http://127.0.0.1:6000' };
    expect(endpointFor('FIS', env)).toBe('http://127.0.0.1:6000');
    expect(endpointFor('EC2', env)).toBe('http://127.0.0.1:5000');
    expect(endpointFor('EC2', {})).toBeUndefined();
    expect(endpointFor('EC2', { AWS_ENDPOINT_URL: '  ' })).toBeUndefined();
  });

  it('a value that is not an http(s) URL: a usage error naming the variable', () => {
    expect(() => endpointFor('SSM', { AWS_ENDPOINT_URL_SSM: 'localhost:5000' })).toThrow(
      /AWS_ENDPOINT_URL_SSM='localhost:5000' is not an http\(s\) URL/,
    );
    expect(() => endpointFor('SSM', { AWS_ENDPOINT_URL: 'not a url' })).toThrow(
      /AWS_ENDPOINT_URL='not a url' is not a URL/,
    );
  });
});

describe('clientConfig and awsClients', () => {
  it('the region, timeouts, standard retries, the endpoint from the environment', () => {
    expect(clientConfig('EC2', { region: 'eu-west-1', env: {} })).toEqual({
      region: 'eu-west-1',
      maxAttempts: MAX_ATTEMPTS,
      retryMode: 'standard',
      requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
    });
    expect(
      clientConfig('EC2', { region: 'eu-west-1', env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000' } })
        .endpoint,
    ).toBe('http://127.0.0.1:5000');
  });

  it('the four clients point at the endpoint, in the region', async () => {
    const clients = awsClients({
      region: 'eu-west-1',
      env: { AWS_ENDPOINT_URL: 'http://127.0.0.1:5000', AWS_ENDPOINT_URL_SSM: 'http://127.0.0.1:5001' },
      credentials: { accessKeyId: 'a', secretAccessKey: 'b' },
    });
    try {
      for (const [client, port] of [
        [clients.fis, '5000'],
        [clients.ec2, '5000'],
        [clients.autoScaling, '5000'],
        [clients.ssm, '5001'],
      ] as const) {
        expect(await client.config.region()).toBe('eu-west-1');
        expect(await client.config.maxAttempts()).toBe(MAX_ATTEMPTS);
        const endpoint = await (
          client.config.endpoint as () => Promise<{ hostname: string; port?: number }>
        )();
        expect([endpoint.hostname, String(endpoint.port)]).toEqual(['127.0.0.1', port]);
      }
    } finally {
      clients.destroy();
      clients.destroy();
    }
  });
});

describe('awsError: one clear message per failure', () => {
  it('AccessDenied names the call and says what to grant', () => {
    const e = awsError(
      'FIS CreateExperimentTemplate for fault #1',
      new FisServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        message: 'User: arn:aws:iam::1:user/x is not authorized to perform: fis:CreateExperimentTemplate',
        $metadata: { httpStatusCode: 403, requestId: 'r-9' },
      }),
    );
    expect(e).toBeInstanceOf(InfraError);
    expect(e.code).toBe('AWS_ACCESS_DENIED');
    expect(e.message).toBe(
      'FIS CreateExperimentTemplate for fault #1 was denied: User: arn:aws:iam::1:user/x is not authorized to perform: fis:CreateExperimentTemplate (request r-9)',
    );
    expect(e.hint).toMatch(/iam:PassRole/);
    const ec2 = awsError(
      'ec2 StopInstances on i-1',
      new EC2ServiceException({
        name: 'UnauthorizedOperation',
        $fault: 'client',
        message: 'You are not authorized to perform this operation.',
        $metadata: meta,
      }),
    );
    expect(ec2.code).toBe('AWS_ACCESS_DENIED');
  });

  it("a ValidationException keeps AWS's message, which names the field", () => {
    const e = awsError(
      'FIS CreateExperimentTemplate for fault #2',
      new ValidationException({
        message: 'Action parameter duration must be at least PT1M',
        $metadata: meta,
      }),
    );
    expect(e.code).toBe('AWS_INVALID_REQUEST');
    expect(e.message).toBe(
      'FIS CreateExperimentTemplate for fault #2 was refused as invalid: Action parameter duration must be at least PT1M (request req-1)',
    );
    // Auto Scaling's query API calls it ValidationError.
    const asg = new AutoScalingServiceException({
      name: 'ValidationError',
      $fault: 'client',
      message: 'Instance Id not found - No managed instance found for instance ID: i-1',
      $metadata: meta,
    });
    expect(awsError('autoscaling TerminateInstanceInAutoScalingGroup on i-1', asg).code).toBe(
      'AWS_INVALID_REQUEST',
    );
  });

  it('credentials, an unreachable endpoint, and the rest with their code', () => {
    const creds = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    expect(awsError('FIS GetExperiment', creds).code).toBe('AWS_CREDENTIALS');
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5000'), { code: 'ECONNREFUSED' });
    expect(awsError('EC2 DescribeInstances', refused)).toMatchObject({
      code: 'AWS_UNREACHABLE',
      message: 'EC2 DescribeInstances: the AWS endpoint did not answer: connect ECONNREFUSED 127.0.0.1:5000',
    });
    expect(
      awsError('FIS StopExperiment e-1', new ConflictException({ message: 'busy', $metadata: meta })).message,
    ).toBe('FIS StopExperiment e-1 failed: ConflictException: busy (request req-1)');
    const infra = new InfraError('X', 'already clear');
    expect(awsError('anything', infra)).toBe(infra);
  });
});
