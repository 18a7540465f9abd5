// The worker bundles this module: it must export every workflow and import nothing Node-only.
export { orderFulfillment } from './order-fulfillment';
export { smartAccountActivation } from './smart-account-activation';
