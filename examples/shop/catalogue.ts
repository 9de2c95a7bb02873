/** The shop's fixed catalogue: six products, prices in cents. */
export interface Product {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly priceCents: number;
}

export const catalogue: readonly Product[] = [
  { id: 'tea', name: 'Green tea', description: 'Sencha, 100 g tin', priceCents: 850 },
  { id: 'coffee', name: 'Coffee beans', description: 'Single origin, 250 g', priceCents: 1200 },
  { id: 'mug', name: 'Stoneware mug', description: 'Holds 350 ml', priceCents: 1450 },
  { id: 'kettle', name: 'Gooseneck kettle', description: 'Stovetop, 1 l', priceCents: 4900 },
  { id: 'grinder', name: 'Hand grinder', description: 'Ceramic burrs', priceCents: 3600 },
  { id: 'filters', name: 'Paper filters', description: 'Pack of 100', priceCents: 450 },
];

const byId = new Map(catalogue.map((p) => [p.id, p]));

export function productById(id: unknown): Product | undefined {
  return typeof id === 'string' ? byId.get(id) : undefined;
}

export function formatPrice(cents: number): string {
  return `€${(cents / 100).toFixed(2)}`;
}
