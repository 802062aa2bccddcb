import type { CallContext } from '@conga/common';
import type { Attachment__Output } from './generated/conga/services/network/v1/Attachment';
import type { Interface__Output } from './generated/conga/services/network/v1/Interface';
import type { Network__Output } from './generated/conga/services/network/v1/Network';
import type { PortMapping__Output } from './generated/conga/services/network/v1/PortMapping';
import type { AttachRequest } from './generated/conga/services/network/v1/AttachRequest';
import type { DetachRequest } from './generated/conga/services/network/v1/DetachRequest';
import type { ConnectRequest } from './generated/conga/services/network/v1/ConnectRequest';
import type { DisconnectRequest } from './generated/conga/services/network/v1/DisconnectRequest';
import type { EndpointRequest } from './generated/conga/services/network/v1/EndpointRequest';
import type { GetAttachmentRequest } from './generated/conga/services/network/v1/GetAttachmentRequest';
import type { ListAttachmentsRequest } from './generated/conga/services/network/v1/ListAttachmentsRequest';
import type { ListAttachmentsResponse__Output } from './generated/conga/services/network/v1/ListAttachmentsResponse';
import type { CreateNetworkRequest } from './generated/conga/services/network/v1/CreateNetworkRequest';
import type { GetNetworkRequest } from './generated/conga/services/network/v1/GetNetworkRequest';
import type { ListNetworksRequest } from './generated/conga/services/network/v1/ListNetworksRequest';
import type { ListNetworksResponse__Output } from './generated/conga/services/network/v1/ListNetworksResponse';
import type { DeleteNetworkRequest } from './generated/conga/services/network/v1/DeleteNetworkRequest';
import type { Empty__Output } from './generated/conga/services/common/v1/Empty';

export type Attachment = Attachment__Output;
export type NetInterface = Interface__Output;
export type NetworkInfo = Network__Output;
export type PortMapping = PortMapping__Output;
export type ListAttachmentsResponse = ListAttachmentsResponse__Output;
export type ListNetworksResponse = ListNetworksResponse__Output;
export type {
  AttachRequest, DetachRequest, GetAttachmentRequest, ListAttachmentsRequest, ConnectRequest, DisconnectRequest, EndpointRequest,
  CreateNetworkRequest, GetNetworkRequest, ListNetworksRequest, DeleteNetworkRequest,
};

/**
 * The network service (proto: conga.services.network.v1.Networks): netns, CNI, networks,
 * hosts and resolv.conf. Implemented by libs/network and the gRPC proxy.
 */
export interface NetworkService {
  attach(req: AttachRequest, ctx: CallContext): Promise<Attachment>;
  detach(req: DetachRequest, ctx: CallContext): Promise<Empty__Output>;
  getAttachment(req: GetAttachmentRequest, ctx: CallContext): Promise<Attachment>;
  listAttachments(req: ListAttachmentsRequest, ctx: CallContext): Promise<ListAttachmentsResponse>;
  connect(req: ConnectRequest, ctx: CallContext): Promise<Attachment>;
  disconnect(req: DisconnectRequest, ctx: CallContext): Promise<Attachment>;
  createNetwork(req: CreateNetworkRequest, ctx: CallContext): Promise<NetworkInfo>;
  getNetwork(req: GetNetworkRequest, ctx: CallContext): Promise<NetworkInfo>;
  listNetworks(req: ListNetworksRequest, ctx: CallContext): Promise<ListNetworksResponse>;
  deleteNetwork(req: DeleteNetworkRequest, ctx: CallContext): Promise<Empty__Output>;
}
