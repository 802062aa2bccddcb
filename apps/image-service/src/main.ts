import { layout } from '@conga/common';
import { exitOnError, runServiceMain, storageProxy } from '@conga/rpc';
import { createImageService } from '@conga/image';

// image-service: registry client, content store and image metadata (split mode). It unpacks
// layers through the storage service over gRPC.
runServiceMain('image', async ({ paths, config, log }) => {
  const storage = storageProxy(layout.serviceSocket(paths, 'storage'));
  const svc = await createImageService({ dir: layout.imageDir(paths), storage, config, log });
  return {
    ...svc,
    pullImage: svc.pullImage.bind(svc),
    getImage: svc.getImage.bind(svc),
    listImages: svc.listImages.bind(svc),
    deleteImage: svc.deleteImage.bind(svc),
    async close() {
      await svc.close();
      storage.close();
    },
  };
}).catch(exitOnError);
