import type { StackEvent } from '@aws-sdk/client-cloudformation';
import { describe, expect, it } from 'vitest';
import { deployable, eventLine, failureReasons, harnessStackOf, stackTags } from './cloudformation.ts';
import type { CfnTemplate } from './template.ts';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1, 12, 0, s));
const ev = (s: number, id: string, type: string, status: string, reason?: string): StackEvent => ({
  Timestamp: at(s),
  LogicalResourceId: id,
  ResourceType: type,
  ResourceStatus: status as StackEvent['ResourceStatus'],
  ...(reason ? { ResourceStatusReason: reason } : {}),
  StackId: 's',
  EventId: `${id}-${s}`,
  StackName: 's',
});

describe('CloudFormation, as the provider uses it', () => {
  it("a failed creation's reasons: each failed resource once, oldest first, without the cancellations it caused", () => {
    const events = [
      ev(
        9,
        'chaos-x',
        'AWS::CloudFormation::Stack',
        'ROLLBACK_IN_PROGRESS',
        'The following resource(s) failed to create: [AsgPgA]',
      ),
      ev(5, 'AsgPgB', 'AWS::AutoScaling::AutoScalingGroup', 'CREATE_FAILED', 'Resource creation cancelled'),
      ev(
        4,
        'AsgPgA',
        'AWS::AutoScaling::AutoScalingGroup',
        'CREATE_FAILED',
        'Received 0 SUCCESS signal(s) out of 1 within PT20M',
      ),
      ev(1, 'Vpc', 'AWS::EC2::VPC', 'CREATE_COMPLETE'),
    ];
    expect(failureReasons(events)).toEqual([
      'AsgPgA (AWS::AutoScaling::AutoScalingGroup): Received 0 SUCCESS signal(s) out of 1 within PT20M',
    ]);
    expect(eventLine(events[2]!)).toBe(
      '12:00:04 AsgPgA AWS::AutoScaling::AutoScalingGroup CREATE_FAILED (Received 0 SUCCESS signal(s) out of 1 within PT20M)',
    );
  });

  it('an all-protocol rule is sent with FromPort and ToPort -1 (moto needs them; AWS takes them); the rendered template is left as it was', () => {
    const t = {
      Resources: {
        Nodes: {
          Type: 'AWS::EC2::SecurityGroup',
          Properties: {
            SecurityGroupIngress: [
              { IpProtocol: '-1', CidrIp: '10.1.0.0/16' },
              { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, CidrIp: '203.0.113.7/32' },
            ],
          },
        },
      },
    } as unknown as CfnTemplate;
    const sent = deployable(t);
    expect(sent.Resources.Nodes!.Properties.SecurityGroupIngress).toEqual([
      { IpProtocol: '-1', CidrIp: '10.1.0.0/16', FromPort: -1, ToPort: -1 },
      { IpProtocol: 'tcp', FromPort: 5432, ToPort: 5432, CidrIp: '203.0.113.7/32' },
    ]);
    expect(t.Resources.Nodes!.Properties.SecurityGroupIngress[0]).toEqual({
      IpProtocol: '-1',
      CidrIp: '10.1.0.0/16',
    });
  });

  it("a stack is the harness's by its chaos:run tag; its owner and lifetime come from its tags", () => {
    const Tags = stackTags({
      scenario: 'pg-primary-kill',
      runId: '3f9a1c07',
      owner: 'ci-7:4242',
      lifetime: 'kept',
    });
    expect(Tags).toEqual([
      { Key: 'chaos:stack', Value: 'pg-primary-kill' },
      { Key: 'chaos:run', Value: '3f9a1c07' },
      { Key: 'chaos:owner', Value: 'ci-7:4242' },
      { Key: 'chaos:lifetime', Value: 'kept' },
    ]);
    const s = harnessStackOf({
      StackName: 'chaos-pg-primary-kill-3f9a1c07',
      StackId: 'arn:aws:cloudformation:us-east-1:123456789012:stack/chaos-pg-primary-kill-3f9a1c07/1',
      StackStatus: 'CREATE_COMPLETE',
      CreationTime: at(0),
      Tags,
      Outputs: [{ OutputKey: 'VpcId', OutputValue: 'vpc-1' }],
    });
    expect(s).toMatchObject({
      runId: '3f9a1c07',
      owner: 'ci-7:4242',
      lifetime: 'kept',
      outputs: { VpcId: 'vpc-1' },
    });
    expect(
      harnessStackOf({
        StackName: 'chaos-other',
        StackId: 'x',
        StackStatus: 'CREATE_COMPLETE',
        CreationTime: at(0),
      }),
    ).toBeUndefined();
  });
});
