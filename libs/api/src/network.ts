import type { CallContext } from '@conga/common';
import type { Attachment__Output } from './generated/conga/services/network/v1/Attachment';
import type { Interface__Output } from './generated/conga/services/network/v1/Interface';
import type { AttachRequest } from './generated/conga/services/network/v1/AttachRequest';
import type { DetachRequest } from './generated/conga/services/network/v1/DetachRequest';
import type { GetAttachmentRequest } from './generated/conga/services/network/v1/GetAttachmentRequest';
import type { ListAttachmentsRequest } from './generated/conga/services/network/v1/ListAttachmentsRequest';
import type { ListAttachmentsResponse__Output } from './generated/conga/services/network/v1/ListAttachmentsResponse';
import type { Empty__Output } from './generated/conga/services/common/v1/Empty';

export type Attachment = Attachment__Output;
export type NetInterface = Interface__Output;
export type ListAttachmentsResponse = ListAttachmentsResponse__Output;
export type { AttachRequest, DetachRequest, GetAttachmentRequest, ListAttachmentsRequest };

/**
 * The network service (proto: conga.services.network.v1.Networks): netns, CNI, hosts and
 * resolv.conf. Implemented by libs/network and the gRPC proxy.
 */
export interface NetworkService {
  attach(req: AttachRequest, ctx: CallContext): Promise<Attachment>;
  detach(req: DetachRequest, ctx: CallContext): Promise<Empty__Output>;
  getAttachment(req: GetAttachmentRequest, ctx: CallContext): Promise<Attachment>;
  listAttachments(req: ListAttachmentsRequest, ctx: CallContext): Promise<ListAttachmentsResponse>;
}
