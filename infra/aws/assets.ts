import { readFileSync } from 'node:fs';
import {
  CreateBucketCommand,
  type CreateBucketCommandInput,
  DeleteObjectsCommand,
  HeadBucketCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { InfraError } from '../../core/errors.ts';
import { awsError, awsErrorParts, clientConfig, endpointFor } from './aws-clients.ts';
import type { Asset } from './user-data.ts';

/**
 * The run's assets in S3: the files a node fetches at boot (user data carries 16 KB at most:
 * user-data.ts) and the template when it is larger than CreateStack takes inline. One bucket per
 * account and region, `chaos-assets-<account>-<region>` (what infra/aws/iam-policy.json allows),
 * made once and kept; each run's objects under `<run id>/`, removed at teardown.
 */

export function assetsBucketName(account: string, region: string): string {
  return `chaos-assets-${account}-${region}`;
}

/** An S3 client; path-style addressing where AWS_ENDPOINT_URL points elsewhere (moto on 127.0.0.1). */
export function s3Client(region: string): S3Client {
  return new S3Client({
    ...clientConfig('S3', { region }),
    forcePathStyle: endpointFor('S3', process.env) !== undefined,
  });
}

/** Makes the bucket unless it is there (ours already); returns whether it was made now. */
export async function ensureBucket(s3: S3Client, bucket: string, region: string): Promise<boolean> {
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
    return false;
  } catch (err) {
    const p = awsErrorParts(err);
    if (p.status === 403)
      throw new InfraError(
        'ASSETS_BUCKET_FORBIDDEN',
        `S3 bucket ${bucket} exists and this account may not use it`,
        {
          hint: 'allow s3:ListBucket and s3:PutObject on it (infra/aws/iam-policy.json), or delete it',
          cause: err,
        },
      );
    if (p.status !== 404 && p.code !== 'NotFound' && p.code !== 'NoSuchBucket')
      throw awsError(`S3 HeadBucket ${bucket}`, err);
  }
  const input: CreateBucketCommandInput = {
    Bucket: bucket,
    // us-east-1 takes no location constraint (and refuses one).
    ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as never } }),
  };
  try {
    await s3.send(new CreateBucketCommand(input));
    return true;
  } catch (err) {
    const p = awsErrorParts(err);
    if (p.code === 'BucketAlreadyOwnedByYou') return false;
    throw awsError(`S3 CreateBucket ${bucket}`, err);
  }
}

/** Uploads each asset under `<prefix>/<key>`; returns how many bytes went up. */
export async function uploadAssets(
  s3: S3Client,
  bucket: string,
  prefix: string,
  assets: readonly Asset[],
): Promise<number> {
  let bytes = 0;
  for (const a of assets) {
    const body = a.content !== undefined ? Buffer.from(a.content, 'utf8') : readFileSync(a.source ?? '');
    bytes += body.length;
    try {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${a.key}`, Body: body }));
    } catch (err) {
      throw awsError(`S3 PutObject s3://${bucket}/${prefix}/${a.key}`, err);
    }
  }
  return bytes;
}

/** Puts a text object; its https URL as CloudFormation reads a TemplateURL. */
export async function putText(
  s3: S3Client,
  bucket: string,
  key: string,
  text: string,
  region: string,
): Promise<string> {
  try {
    await s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: key, Body: text, ContentType: 'application/json' }),
    );
  } catch (err) {
    throw awsError(`S3 PutObject s3://${bucket}/${key}`, err);
  }
  const suffix = region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
  return `https://${bucket}.s3.${region}.${suffix}/${key}`;
}

/** The keys under `<prefix>/`. */
export async function listPrefix(s3: S3Client, bucket: string, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let ContinuationToken: string | undefined;
  try {
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: `${prefix}/`, ContinuationToken }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
  } catch (err) {
    const p = awsErrorParts(err);
    if (p.code === 'NoSuchBucket' || p.status === 404) return [];
    throw awsError(`S3 ListObjectsV2 s3://${bucket}/${prefix}/`, err);
  }
  return keys;
}

/** Deletes every object under `<prefix>/`; how many. */
export async function deletePrefix(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  const keys = await listPrefix(s3, bucket, prefix);
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    try {
      await s3.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
        }),
      );
    } catch (err) {
      throw awsError(`S3 DeleteObjects s3://${bucket}/${prefix}/`, err);
    }
  }
  return keys.length;
}
