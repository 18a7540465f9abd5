// The worker bundles this module: it must export every workflow and import nothing Node-only.
export { orderFulfillment } from './orders/order-fulfillment';
export { orderTransferBatch } from './orders/order-transfer-batch';
export { smartAccountActivation } from './accounts/smart-account-activation';
export { licenseClock } from './licensing/license-clock';
export { trueUp } from './licensing/true-up';
