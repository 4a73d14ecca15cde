export {
  isShippedOrganism,
  loadShippedReports,
  resolveModelDir,
  SHIPPED_MODELS_DIR,
  SHIPPED_ORGANISMS,
  type ShippedOrganism,
  shippedModelDir,
} from './shipped.ts';
