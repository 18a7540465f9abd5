/**
 * What each email says, per template and per recipient: what happened, what the reader must do,
 * and warnings. Written for the one who reads it: the customer is never told to "work with the
 * customer", and a partner is not told its own licenses are "yours".
 */
import { accountWhere, linkValidity, runningTermWarnings, type EmailTemplate, type OrderEmailFacts } from './email-facts';

export interface Content {
  subject: string;
  /** Paragraphs of what happened. */
  happened: string[];
  /** What the reader must do, or undefined when nothing. */
  todo?: string;
  warnings?: string[];
}

function heldWhere(facts: OrderEmailFacts): string {
  return facts.holdingAccount
    ? `${facts.holdingAccount.name}${facts.holdingAccount.virtualAccountPath ? `, virtual account ${facts.holdingAccount.virtualAccountPath}` : ''}`
    : 'the Partner Holding Account';
}

/** The held order's emails: to the partner, or (escalation) to its distributor or operations. */
function holdingContent(template: 'transfer-needed' | 'transfer-reminder' | 'escalation', facts: OrderEmailFacts): Content {
  const ref = facts.externalReference;
  const held = heldWhere(facts);
  const warnings = runningTermWarnings(facts);
  if (template === 'transfer-needed') {
    return {
      subject: `Action needed: order ${ref} is in your holding account and must be moved to the customer's Smart Account`,
      happened: [
        `The licenses of order ${ref} (order ID ${facts.orderId}) have been deposited in ${held}. ` +
          'Licenses in a Partner Holding Account can be neither consumed nor activated.',
      ],
      todo: "This order contains Smart Account-mandatory lines: assign the customer's active Smart Account so that the licenses are transferred and activated.",
      warnings,
    };
  }
  if (template === 'transfer-reminder') {
    return {
      subject: `Reminder${facts.reminderNumber ? ` ${facts.reminderNumber}` : ''}: order ${ref} is still in your holding account`,
      happened: [`Order ${ref} (order ID ${facts.orderId}) has been waiting in ${held} since ${facts.heldSince ?? 'it was booked'}.`],
      todo: "Assign the customer's active Smart Account to transfer and activate the licenses.",
      warnings,
    };
  }
  return {
    subject: `Escalation: order ${ref} of ${facts.partnerName} has waited in a holding account since ${facts.heldSince ?? 'booking'}`,
    happened: [
      `Order ${ref} (order ID ${facts.orderId}) of ${facts.partnerName} has sat in ${held} since ${facts.heldSince ?? 'booking'}, ` +
        "and the customer's Smart Account has still not been assigned despite the reminders.",
    ],
    todo: "Please follow up with the partner so that the customer's Smart Account is assigned. The order is kept; it is never dropped.",
    warnings,
  };
}

/** "Fulfilled": the partner deploys with its customer, the customer uses its licenses, members are told they left the holding account. */
function fulfilledContent(facts: OrderEmailFacts): Content {
  const ref = facts.externalReference;
  const where = facts.account ? ` in the Smart Account ${accountWhere(facts.account)}.` : '.';
  const usable = 'Smart licenses are active in the Smart Account; classic licenses are available in the License Registration Portal.';
  const subject = `Order ${ref} is fulfilled`;
  if (facts.recipient === 'customer') {
    return {
      subject,
      happened: [`Every line of your order ${ref} from ${facts.partnerName} (order ID ${facts.orderId}) is provisioned${where}`, usable],
      todo: `Nothing is needed from you: the licenses are ready to use. For help deploying them, contact ${facts.partnerName}.`,
    };
  }
  if (facts.recipient === 'holding-members') {
    return {
      subject,
      happened: [
        `Every line of order ${ref} (order ID ${facts.orderId}) of ${facts.partnerName} is provisioned${facts.account ? ` in the customer's Smart Account ${accountWhere(facts.account)}.` : '.'}`,
        `Its licenses are no longer in ${heldWhere(facts)}.`,
      ],
      todo: 'Nothing is needed from you.',
    };
  }
  return {
    subject,
    happened: [`Every line of order ${ref} (order ID ${facts.orderId}) is provisioned${where}`, usable],
    todo: 'Nothing is needed from you. Work with the customer to deploy the licenses.',
  };
}

function depositContent(facts: OrderEmailFacts): Content {
  const ref = facts.externalReference;
  const toCustomer = facts.recipient === 'customer';
  const where = facts.account
    ? `${toCustomer ? 'your' : 'the'} Smart Account ${accountWhere(facts.account)}`
    : toCustomer
      ? 'your Smart Account'
      : "the customer's Smart Account";
  return {
    subject: `Order ${ref}: licenses deposited in ${facts.account?.name ?? 'the Smart Account'}`,
    happened: [
      `The licenses of ${toCustomer ? `your order ${ref} from ${facts.partnerName}` : `order ${ref}`} (order ID ${facts.orderId}) have been deposited in ${where}.`,
      'Smart licenses are activated there when their lines ship; classic licenses then appear in the License Registration Portal.',
    ],
    todo: 'Nothing is needed from you.',
  };
}

/** Emails to the end customer's contact with a secure link. */
function linkContent(template: 'delegation-request' | 'activation-request', facts: OrderEmailFacts): Content {
  if (template === 'delegation-request') {
    const ref = facts.externalReference;
    return {
      subject: `${facts.reminderNumber ? `Reminder ${facts.reminderNumber}: c` : 'C'}hoose the Smart Account for your order ${ref}`,
      happened: [
        `${facts.partnerName} has placed order ${ref} for you and asks you to choose the Smart Account that will receive its licenses.`,
      ],
      todo: `Open the secure link below to pick one of your company's Smart Accounts, or to create one if you have none${linkValidity(facts)}`,
      warnings: runningTermWarnings(facts),
    };
  }
  return {
    subject: facts.reminderNumber
      ? `Reminder ${facts.reminderNumber}: activate your new Smart Account ${facts.requestedDomain ?? ''}`.trim()
      : `Activate your new Smart Account ${facts.requestedDomain ?? ''}`.trim(),
    happened: [
      `A Smart Account for ${facts.requestedDomain ?? 'your company'} has been requested for you. ` +
        'Orders placed for you wait until it is active.',
    ],
    todo: `Open the secure link below to activate the Smart Account${linkValidity(facts)}`,
  };
}

/** The partner's "you must act" emails outside the holding account. */
function partnerActionContent(template: 'delegation-unanswered' | 'assignment-refused', facts: OrderEmailFacts): Content {
  const ref = facts.externalReference;
  if (template === 'delegation-unanswered') {
    return {
      subject: `Action needed: the customer has not chosen a Smart Account for order ${ref}`,
      happened: [
        `The end customer was asked on ${facts.heldSince ?? 'booking'} to choose the Smart Account for order ${ref} (order ID ${facts.orderId}) ` +
          `and has not answered${facts.reminderNumber ? ` after ${facts.reminderNumber} reminder${facts.reminderNumber === 1 ? '' : 's'}` : ''}.`,
        'The customer keeps getting reminders with a fresh link; the order is kept and never dropped.',
      ],
      todo: "Contact the customer, send them a new link (API or CLI: orders resend-link; the old links stop working), or assign the customer's active Smart Account to the order yourself (orders assign).",
      warnings: runningTermWarnings(facts),
    };
  }
  return {
    subject: `Action needed: order ${ref} could not be assigned`,
    happened: [
      `The account assignment of order ${ref} (order ID ${facts.orderId}) was refused: ${facts.refusalReason ?? 'no reason given'}.`,
      'The order is kept and waits for a valid assignment.',
    ],
    todo: "Assign the customer's active Smart Account (or your holding account) to the order.",
    warnings: runningTermWarnings(facts),
  };
}

export function content(template: EmailTemplate, facts: OrderEmailFacts): Content {
  switch (template) {
    case 'deposit-confirmation':
      return depositContent(facts);
    case 'transfer-needed':
    case 'transfer-reminder':
    case 'escalation':
      return holdingContent(template, facts);
    case 'order-fulfilled':
      return fulfilledContent(facts);
    case 'order-cancelled':
      return {
        subject: `Order ${facts.externalReference} is cancelled`,
        happened: [
          `Order ${facts.externalReference} (order ID ${facts.orderId}) has been cancelled; licenses that were held or deposited have been withdrawn.`,
        ],
      };
    case 'delegation-request':
    case 'activation-request':
      return linkContent(template, facts);
    case 'delegation-unanswered':
    case 'assignment-refused':
      return partnerActionContent(template, facts);
  }
}
