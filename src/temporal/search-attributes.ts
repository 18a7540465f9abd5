import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The custom search attributes operators filter orders by in the Temporal UI. This list is the
 * single source: the dev stack and the test setup register it, workflows upsert its keys, and
 * deploy/temporal/register-search-attributes.sh is checked against it by a unit test.
 */
export const OrderIdKey = defineSearchAttributeKey('OrderId', SearchAttributeType.KEYWORD);
export const ExternalReferenceKey = defineSearchAttributeKey('ExternalReference', SearchAttributeType.KEYWORD);
export const PartnerIdKey = defineSearchAttributeKey('PartnerId', SearchAttributeType.KEYWORD);
export const CustomerDomainKey = defineSearchAttributeKey('CustomerDomain', SearchAttributeType.KEYWORD);
export const OrderStatusKey = defineSearchAttributeKey('OrderStatus', SearchAttributeType.KEYWORD);
export const HoldingAccountIdKey = defineSearchAttributeKey('HoldingAccountId', SearchAttributeType.KEYWORD);
export const WaitingForKey = defineSearchAttributeKey('WaitingFor', SearchAttributeType.KEYWORD);
/** License use (R20): the reconciliation period a true-up is for, and where it stands. */
export const LicensePeriodKey = defineSearchAttributeKey('LicensePeriod', SearchAttributeType.KEYWORD);
export const TrueUpStatusKey = defineSearchAttributeKey('TrueUpStatus', SearchAttributeType.KEYWORD);

export const SEARCH_ATTRIBUTE_KEYS = [
  OrderIdKey,
  ExternalReferenceKey,
  PartnerIdKey,
  CustomerDomainKey,
  OrderStatusKey,
  HoldingAccountIdKey,
  WaitingForKey,
  LicensePeriodKey,
  TrueUpStatusKey,
] as const;

const CLI_TYPE_NAMES: Record<SearchAttributeType, string> = {
  [SearchAttributeType.TEXT]: 'Text',
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
  [SearchAttributeType.DOUBLE]: 'Double',
  [SearchAttributeType.BOOL]: 'Bool',
  [SearchAttributeType.DATETIME]: 'Datetime',
  [SearchAttributeType.KEYWORD_LIST]: 'KeywordList',
};

/** Name and type as the Temporal CLI spells them (`--search-attribute OrderId=Keyword`). */
export const SEARCH_ATTRIBUTE_DEFINITIONS: ReadonlyArray<{ name: string; type: string }> = SEARCH_ATTRIBUTE_KEYS.map((key) => ({
  name: key.name,
  type: CLI_TYPE_NAMES[key.type],
}));
