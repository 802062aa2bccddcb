import { layout } from '@conga/common';
import { exitOnError, runServiceMain } from '@conga/rpc';
import { createNetworkService } from '@conga/network';

// network-service: netns, CNI and hosts/resolv.conf, served over gRPC (split mode).
runServiceMain('network', ({ paths, config, log }) =>
  createNetworkService({ dir: layout.networkDir(paths), runDir: layout.networkRunDir(paths), cniBinDir: config['cni-bin-dir'],
    defaultNetwork: { bridge: config.bridge, subnet: config['fixed-cidr'] }, log }),
).catch(exitOnError);
