/** Server-rendered HTML for the shop: one layout, a few pages, every text escaped. */
import { catalogue, formatPrice } from './catalogue.js';
import { linesOf, maxQuantity, totalCents, type Cart } from './cart.js';

export interface Order {
  readonly number: string;
  readonly placedAt: string;
  readonly lines: readonly {
    productId: string;
    name: string;
    quantity: number;
    unitPriceCents: number;
  }[];
  readonly totalCents: number;
}

/** The session's orders, oldest first. */
export function ordersByTime(orders: Readonly<Record<string, Order>> | undefined): Order[] {
  return Object.values(orders ?? {}).sort(
    (a, b) => a.placedAt.localeCompare(b.placedAt) || a.number.localeCompare(b.number),
  );
}

/** Who served the page: the web server, and the state node holding the session. */
export interface Served {
  readonly server: { readonly name: string; readonly port: number };
  readonly state: {
    readonly key: string;
    readonly partition: number | null;
    readonly partitionCount: number;
    readonly primary: string | null;
  };
}

export interface PageContext {
  readonly user: string | null;
  readonly cartUnits: number;
  readonly served: Served;
  readonly notice?: string;
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const style = `
body{font:15px/1.45 system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:0 1rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline;border-bottom:1px solid #ddd;padding:.8rem 0}
header h1{font-size:1.2rem;margin:0 auto 0 0}
a{color:#0a58ca}
table{border-collapse:collapse;width:100%}
td,th{padding:.4rem;border-bottom:1px solid #eee;text-align:left}
.products{display:grid;grid-template-columns:repeat(auto-fill,minmax(14rem,1fr));gap:1rem;margin:1rem 0}
.product{border:1px solid #ddd;border-radius:6px;padding:.8rem}
.notice{background:#eef6ee;border:1px solid #b7dbb7;padding:.5rem .8rem;border-radius:4px}
footer{margin-top:2rem;border-top:1px solid #ddd;padding:.6rem 0;font-size:.85rem;color:#555}
form.inline{display:inline}
input[type=number]{width:4.5rem}
button{cursor:pointer}
`;

function layout(context: PageContext, title: string, body: string): string {
  const { served } = context;
  const account =
    context.user === null
      ? '<a href="/login">Log in</a>'
      : `<span>Hello, <strong data-user>${escapeHtml(context.user)}</strong></span>
         <form class="inline" method="post" action="/logout"><button>Log out</button></form>`;
  const partition =
    served.state.partition === null
      ? 'partition unknown'
      : `partition ${served.state.partition} of ${served.state.partitionCount}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)} · Statehouse shop</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${style}</style></head>
<body>
<header><h1><a href="/">Statehouse shop</a></h1>
<a href="/cart">Cart (<span data-cart-units>${context.cartUnits}</span>)</a>
<a href="/orders">Orders</a>
${account}</header>
${context.notice === undefined ? '' : `<p class="notice">${escapeHtml(context.notice)}</p>`}
<main><h2>${escapeHtml(title)}</h2>
${body}</main>
<footer>Served by web server <strong data-web-server>${escapeHtml(served.server.name)}</strong>
(port ${served.server.port}) · session state on primary node
<strong data-primary>${escapeHtml(served.state.primary ?? 'unknown')}</strong> (${partition})</footer>
</body></html>`;
}

export function productsPage(context: PageContext): string {
  const cards = catalogue
    .map(
      (p) => `<div class="product"><h3>${escapeHtml(p.name)}</h3>
<p>${escapeHtml(p.description)}</p><p><strong>${formatPrice(p.priceCents)}</strong></p>
<form method="post" action="/cart/add"><input type="hidden" name="productId" value="${p.id}">
<button>Add to cart</button></form></div>`,
    )
    .join('\n');
  return layout(context, 'Products', `<div class="products">${cards}</div>`);
}

export function cartPage(context: PageContext, cart: Cart): string {
  const lines = linesOf(cart);
  if (lines.length === 0) {
    return layout(context, 'Cart', '<p>Your cart is empty. <a href="/">See the products</a>.</p>');
  }
  const rows = lines
    .map(
      ({ product, quantity }) => `<tr data-line="${product.id}"><td>${escapeHtml(product.name)}</td>
<td>${formatPrice(product.priceCents)}</td>
<td><form class="inline" method="post" action="/cart/update">
<input type="hidden" name="productId" value="${product.id}">
<input type="number" name="quantity" min="0" max="${maxQuantity}" value="${quantity}">
<button>Update</button></form></td>
<td>${formatPrice(product.priceCents * quantity)}</td>
<td><form class="inline" method="post" action="/cart/remove">
<input type="hidden" name="productId" value="${product.id}"><button>Remove</button></form></td></tr>`,
    )
    .join('\n');
  return layout(
    context,
    'Cart',
    `<table><tr><th>Product</th><th>Price</th><th>Quantity</th><th>Subtotal</th><th></th></tr>
${rows}
<tr><th colspan="3">Total</th><th data-total>${formatPrice(totalCents(lines))}</th><th></th></tr></table>
<form method="post" action="/checkout"><p><button>Check out</button></p></form>`,
  );
}

function orderTable(order: Order): string {
  const rows = order.lines
    .map(
      (l) =>
        `<tr><td>${escapeHtml(l.name)}</td><td>${l.quantity}</td><td>${formatPrice(l.unitPriceCents * l.quantity)}</td></tr>`,
    )
    .join('');
  return `<table><tr><th>Product</th><th>Quantity</th><th>Subtotal</th></tr>${rows}
<tr><th colspan="2">Total</th><th>${formatPrice(order.totalCents)}</th></tr></table>`;
}

export function ordersPage(
  context: PageContext,
  /** Oldest first (`ordersByTime`). */
  orders: readonly Order[],
  placed: string | null,
): string {
  const just = placed === null ? undefined : orders.find((o) => o.number === placed);
  const thanks =
    just === undefined
      ? ''
      : `<p class="notice">Thank you! Your order number is
<strong data-order-number>${escapeHtml(just.number)}</strong>.</p>${orderTable(just)}`;
  const history =
    orders.length === 0
      ? '<p>No orders yet.</p>'
      : `<ul>${[...orders]
          .reverse()
          .map(
            (o) =>
              `<li data-order="${escapeHtml(o.number)}">${escapeHtml(o.number)}, ${escapeHtml(o.placedAt)}: ${formatPrice(o.totalCents)}</li>`,
          )
          .join('')}</ul>`;
  return layout(
    context,
    just === undefined ? 'Orders' : 'Order placed',
    `${thanks}<h3>Order history</h3>${history}`,
  );
}

/** An error, on a page of its own: no layout, whose footer needs the session. */
export function errorPage(status: number, message: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${status} · Statehouse shop</title>
<meta name="viewport" content="width=device-width,initial-scale=1"><style>${style}</style></head>
<body><main><h2>${status}</h2><p>${escapeHtml(message)}.</p><p><a href="/">Statehouse shop</a></p></main>
</body></html>`;
}

export function loginPage(context: PageContext): string {
  return layout(
    context,
    'Log in',
    `<form method="post" action="/login"><p><label>Your name
<input name="name" required maxlength="40" autofocus></label> <button>Log in</button></p>
<p>No password: this is a demo of sessions, not of authentication.</p></form>`,
  );
}
