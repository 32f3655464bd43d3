/* marketstreams viewer: a single page on the proxy's websocket protocol (docs/proxy.md).
 *
 * Plain Vue 3 (global build, vendored), no build step. Messages are applied to plain objects
 * as they arrive and copied into Vue's reactive state at most once per animation frame, so a
 * busy book never makes the page re-render more often than the screen refreshes.
 */
"use strict";

(function () {
  const { createApp, reactive, computed, watch, onMounted, onBeforeUnmount } = Vue;

  // -- the connection ----------------------------------------------------------------------

  const params = new URLSearchParams(location.search);
  if (params.get("token")) sessionStorage.setItem("marketstreams-token", params.get("token"));
  const TOKEN = sessionStorage.getItem("marketstreams-token");

  function socketUrl() {
    const url = new URL("ws", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (TOKEN) url.searchParams.set("token", TOKEN);
    return url.toString();
  }

  const BACKOFF = [0.5, 1, 2, 3, 5]; // seconds; then 5 s until the proxy is back

  class Connection {
    constructor(handlers) {
      this.handlers = handlers;
      this.ws = null;
      this.attempt = 0;
      this.timer = null;
    }

    open() {
      clearTimeout(this.timer);
      this.handlers.onState("connecting", 0, this.attempt);
      let ws;
      try {
        ws = new WebSocket(socketUrl());
      } catch (err) {
        this.retry();
        return;
      }
      this.ws = ws;
      ws.onopen = () => {
        this.attempt = 0;
        this.handlers.onState("open", 0, 0);
      };
      ws.onmessage = (event) => {
        let batch;
        try {
          batch = JSON.parse(event.data);
        } catch (err) {
          console.warn("marketstreams: a frame that is not JSON", err);
          return;
        }
        this.handlers.onFrame(Array.isArray(batch) ? batch : [batch], event.data.length);
      };
      ws.onclose = (event) => {
        if (this.ws !== ws) return;
        this.ws = null;
        this.handlers.onClose(event);
        this.retry();
      };
    }

    retry() {
      const delay = BACKOFF[Math.min(this.attempt, BACKOFF.length - 1)];
      this.attempt += 1;
      this.handlers.onState("waiting", delay, this.attempt);
      this.timer = setTimeout(() => this.open(), delay * 1000);
    }

    send(message) {
      if (this.ws && this.ws.readyState === WebSocket.OPEN) {
        this.ws.send(JSON.stringify(message));
        return true;
      }
      return false;
    }
  }

  // -- formatting --------------------------------------------------------------------------

  function decimalsOf(x) {
    if (x === null || x === undefined || !isFinite(x)) return 0;
    const s = String(x);
    const e = s.indexOf("e-");
    if (e >= 0) return Math.min(8, parseInt(s.slice(e + 2), 10) + (s.indexOf(".") >= 0 ? e - s.indexOf(".") - 1 : 0));
    const dot = s.indexOf(".");
    return dot < 0 ? 0 : Math.min(8, s.length - dot - 1);
  }

  const formatters = new Map();
  function fmt(x, decimals) {
    if (x === null || x === undefined || Number.isNaN(x)) return "–";
    const d = Math.max(0, Math.min(8, decimals ?? decimalsOf(x)));
    let f = formatters.get(d);
    if (!f) {
      f = new Intl.NumberFormat("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
      formatters.set(d, f);
    }
    return f.format(x);
  }

  // Betfair odds as the exchange shows them: 2 decimals below 10, 1 below 20, then whole.
  function odds(p) {
    if (p === null || p === undefined) return "–";
    return fmt(p, p < 10 ? 2 : p < 20 ? 1 : 0);
  }

  function compact(x) {
    if (x === null || x === undefined) return "–";
    if (Math.abs(x) >= 1e6) return fmt(x / 1e6, 2) + "M";
    if (Math.abs(x) >= 1e4) return fmt(x / 1e3, 1) + "k";
    return fmt(x, Math.abs(x) >= 100 ? 0 : 2);
  }

  function clock(ms) {
    if (!ms) return "–";
    const d = new Date(ms);
    const pad = (n, w = 2) => String(n).padStart(w, "0");
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function age(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 1) return "just now";
    if (seconds < 60) return `${Math.floor(seconds)} s ago`;
    if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
    return `${Math.floor(seconds / 3600)} h ago`;
  }

  // -- state -------------------------------------------------------------------------------

  const MAX_TRADES = 80;

  const state = reactive({
    conn: "connecting", // connecting | open | waiting
    retryIn: 0,
    attempt: 0,
    everConnected: false,
    closeReason: "",
    hello: null,
    books: [],
    venues: {},
    selected: decodeURIComponent(location.hash.slice(1)) || null,
    book: null, // latest snapshot/update of the selected book
    trades: [], // tape of the selected book, newest first
    error: "",
    filter: "",
    now: Date.now() / 1000,
    rate: 0, // messages per second received
    runner: null, // selected Betfair runner id
  });

  // Messages land here first; flush() copies them into `state` once per animation frame.
  const inbox = { book: null, trades: [], books: null, venues: {}, dirty: false };
  let received = 0;

  function scheduleFlush() {
    if (inbox.dirty) return;
    inbox.dirty = true;
    requestAnimationFrame(flush);
  }

  function flush() {
    inbox.dirty = false;
    if (inbox.books) {
      state.books = inbox.books;
      inbox.books = null;
    }
    for (const [name, venue] of Object.entries(inbox.venues)) state.venues[name] = venue;
    inbox.venues = {};
    if (inbox.book) {
      state.book = Object.freeze(inbox.book);
      inbox.book = null;
    }
    if (inbox.trades.length) {
      state.trades = inbox.trades.concat(state.trades).slice(0, MAX_TRADES);
      inbox.trades = [];
    }
  }

  // The book this page is subscribed to on the current connection, and one asked for.
  const sub = { active: null, asked: null, known: new Set() };

  function ensureSubscribed() {
    const name = state.selected;
    if (!name || !sub.known.has(name) || sub.active === name || sub.asked === name) return;
    for (const old of [sub.active, sub.asked]) {
      if (old && old !== name) connection.send({ op: "unsubscribe", books: [old] });
    }
    sub.active = null;
    if (connection.send({ op: "subscribe", books: [name] })) sub.asked = name;
  }

  function handle(m) {
    switch (m.type) {
      case "hello":
        state.hello = m;
        break;
      case "books":
        inbox.books = m.books;
        sub.known = new Set(m.books.map((b) => b.book));
        for (const v of m.venues) inbox.venues[v.venue] = v;
        if (!state.selected && m.books.length) {
          const first = m.books.find((b) => b.kind === "orderbook") || m.books[0];
          select(first.book);
        } else {
          ensureSubscribed();
        }
        break;
      case "subscribed":
        if (m.books.includes(sub.asked)) {
          sub.active = sub.asked;
          sub.asked = null;
        }
        break;
      case "venue":
        inbox.venues[m.venue] = m;
        break;
      case "snapshot":
      case "update":
        if (m.book === state.selected) inbox.book = m;
        break;
      case "trades":
        if (m.book === state.selected) {
          const fresh = m.trades.slice().reverse();
          inbox.trades = fresh.concat(inbox.trades).slice(0, MAX_TRADES);
        }
        break;
      case "error":
        if (m.code === "unknown_book" && m.books && m.books.includes(sub.asked)) {
          sub.asked = null; // it went away; the next book list says when it is back
          break;
        }
        state.error = m.message;
        setTimeout(() => {
          if (state.error === m.message) state.error = "";
        }, 6000);
        break;
      default:
        break;
    }
  }

  const connection = new Connection({
    onState(kind, retryIn, attempt) {
      state.conn = kind;
      state.retryIn = retryIn;
      state.attempt = attempt;
      if (kind === "open") {
        state.everConnected = true;
        state.closeReason = "";
      }
    },
    onFrame(batch) {
      received += batch.length;
      for (const m of batch) handle(m);
      scheduleFlush();
    },
    onClose(event) {
      sub.active = sub.asked = null;
      sub.known = new Set();
      state.closeReason = event.code === 1006 ? "connection lost" : event.reason || `closed (${event.code})`;
    },
  });

  function select(name) {
    const previous = state.selected;
    if (name === previous && sub.active === name) return;
    state.selected = name;
    state.book = null;
    state.trades = [];
    state.runner = null;
    inbox.book = null;
    inbox.trades = [];
    history.replaceState(null, "", "#" + encodeURIComponent(name));
    ensureSubscribed();
  }

  // -- components --------------------------------------------------------------------------

  // A book is "live" only while the page hears the proxy: with the proxy unreachable its figures
  // are frozen, whatever the last message said.
  const StateBadge = {
    props: ["valid", "stale", "reason"],
    setup() {
      return { state };
    },
    template: `
      <span v-if="state.conn !== 'open'" class="badge warn offline" data-testid="book-state"
            title="no connection to the proxy: the figures are frozen">offline</span>
      <span v-else-if="!valid" class="badge bad" data-testid="book-state" :title="reason || ''">out of sync</span>
      <span v-else-if="stale" class="badge warn" data-testid="book-state">stale</span>
      <span v-else class="badge good" data-testid="book-state">live</span>`,
  };

  const Sidebar = {
    components: { StateBadge },
    props: ["books", "venues", "selected", "filter"],
    emits: ["select", "update:filter"],
    setup(props) {
      const groups = computed(() => {
        const needle = (props.filter || "").toLowerCase();
        const out = {};
        for (const v of Object.keys(props.venues)) out[v] = [];
        for (const b of props.books) {
          const text = `${b.book} ${b.name || ""}`.toLowerCase();
          if (needle && !text.includes(needle)) continue;
          (out[b.venue] = out[b.venue] || []).push(b);
        }
        return Object.keys(out)
          .sort()
          .map((v) => ({ venue: v, state: props.venues[v] || {}, books: out[v] }));
      });
      return { groups, state };
    },
    template: `
      <aside class="sidebar">
        <input class="search" type="search" placeholder="Filter books…"
               :value="filter" @input="$emit('update:filter', $event.target.value)">
        <div class="venues">
          <section v-for="g in groups" :key="g.venue" class="venue" :data-venue="g.venue">
            <header :data-rate="g.state.updates_per_second || 0">
              <span class="dot" :class="state.conn !== 'open' ? 'unknown' : g.state.state || 'unknown'"></span>
              <span class="venue-name">{{ g.venue }}</span>
              <span class="venue-meta">
                <template v-if="g.state.feeds">{{ g.state.connected }}/{{ g.state.feeds }} up</template>
                <template v-if="g.state.reconnects"> · {{ g.state.reconnects }} reconnects</template>
                <template v-if="g.state.updates_per_second"> · {{ Math.round(g.state.updates_per_second) }}/s</template>
              </span>
            </header>
            <button v-for="b in g.books" :key="b.book" class="book-item"
                    :class="{ active: b.book === selected }" :data-book="b.book"
                    @click="$emit('select', b.book)">
              <span class="book-market">{{ b.market }}</span>
              <span class="book-name" v-if="b.name">{{ b.name }}</span>
              <span class="book-state">
                <span class="dot small" :class="state.conn !== 'open' ? 'unknown' : !b.valid ? 'disconnected' : b.stale ? 'partial' : 'connected'"
                      :title="state.conn !== 'open' ? 'offline' : !b.valid ? 'out of sync' : b.stale ? 'stale' : 'live'"></span>
              </span>
            </button>
            <div v-if="!g.books.length" class="empty small">no books yet</div>
          </section>
          <div v-if="!groups.length" class="empty">Waiting for the proxy's book list…</div>
        </div>
      </aside>`,
  };

  const TradesTape = {
    props: ["trades", "priceDecimals", "sizeDecimals"],
    setup() {
      return { clock, fmt };
    },
    template: `
      <section class="panel tape">
        <h3>Trades <span class="muted">{{ trades.length ? 'latest first' : '' }}</span></h3>
        <div class="tape-head"><span>time</span><span>side</span><span>price</span><span>size</span></div>
        <div class="tape-body">
          <div v-for="(t, i) in trades" :key="(t.paper ? 'p' : '') + (t.id || '') + ':' + (t.seq || '') + ':' + i + ':' + t.ts"
               class="tape-row" :class="[t.side, { paper: t.paper }]"
               :data-testid="t.paper ? 'paper-fill' : null" :title="t.paper ? 'paper fill: ' + t.strategy : null">
            <span class="muted">{{ clock(t.ts) }}</span>
            <span class="side"><span v-if="t.paper" class="paper-mark">P</span>{{ t.side === 'buy' ? 'BUY' : t.side === 'sell' ? 'SELL' : t.side }}</span>
            <span class="num">{{ fmt(t.price, priceDecimals) }}</span>
            <span class="num">{{ fmt(t.size, sizeDecimals) }}</span>
          </div>
          <div v-if="!trades.length" class="empty small">No trades since you opened this book.</div>
        </div>
      </section>`,
  };

  function ladderRows(levels, priceDec, sizeDec) {
    let total = 0;
    return levels.map(([price, size]) => {
      total += size;
      return { price, size, total, p: fmt(price, priceDec), s: fmt(size, sizeDec), t: fmt(total, sizeDec) };
    });
  }

  const OrderBookView = {
    components: { TradesTape, StateBadge },
    props: ["book", "trades", "now"],
    setup(props) {
      const decimals = computed(() => {
        const b = props.book;
        let p = 0;
        let s = 0;
        for (const [price, size] of b.bids.concat(b.asks)) {
          p = Math.max(p, decimalsOf(price));
          s = Math.max(s, decimalsOf(size));
        }
        return { price: p, size: Math.min(s, 6) };
      });
      const ladder = computed(() => {
        const b = props.book;
        const d = decimals.value;
        const bids = ladderRows(b.bids, d.price, d.size);
        const asks = ladderRows(b.asks, d.price, d.size);
        const max = Math.max(bids.length ? bids[bids.length - 1].total : 0, asks.length ? asks[asks.length - 1].total : 0) || 1;
        for (const r of bids) r.width = (100 * r.total) / max;
        for (const r of asks) r.width = (100 * r.total) / max;
        return { bids, asks };
      });
      const top = computed(() => {
        const b = props.book;
        const bid = b.bids.length ? b.bids[0][0] : null;
        const ask = b.asks.length ? b.asks[0][0] : null;
        if (bid === null || ask === null) return { bid, ask, spread: null, mid: null, bps: null };
        const spread = ask - bid;
        const mid = (ask + bid) / 2;
        return { bid, ask, spread, mid, bps: mid ? (10000 * spread) / mid : null };
      });
      const updated = computed(() => (props.book.recv ? props.now - props.book.recv : null));
      // paper trading (the proxy's "paper" overlay): working orders by side and price, profit
      const paper = computed(() => {
        const p = props.book.paper;
        if (!p) return null;
        const at = {};
        for (const o of p.orders || []) at[(o.side === "buy" ? "b" : "a") + Number(o.price)] = o;
        const profit = Object.entries(p.profit || {});
        return { at, profit, fills: p.fills || [] };
      });
      const mark = (side, price) => (paper.value ? paper.value.at[side + Number(price)] : null);
      // the venue's trades and the paper fills in one tape, newest first
      const tape = computed(() => {
        const fills = paper.value ? paper.value.fills : [];
        if (!fills.length) return props.trades;
        const mine = fills.map((f) => ({ ...f, paper: true }));
        return props.trades.concat(mine).sort((a, b) => (b.ts || 0) - (a.ts || 0)).slice(0, MAX_TRADES);
      });
      return { decimals, ladder, top, updated, fmt, age, clock, paper, mark, tape };
    },
    template: `
      <div class="book-view" :class="{ dim: !book.valid }">
        <header class="book-head">
          <div class="title">
            <span class="venue-tag">{{ book.venue }}</span>
            <h2>{{ book.market }}</h2>
            <StateBadge :valid="book.valid" :stale="book.stale" :reason="book.reason" />
            <span v-if="book.status" class="badge plain">{{ book.status }}</span>
          </div>
          <dl class="figures">
            <div><dt>Best bid</dt><dd class="num buy" data-testid="best-bid">{{ fmt(top.bid, decimals.price) }}</dd></div>
            <div><dt>Best ask</dt><dd class="num sell" data-testid="best-ask">{{ fmt(top.ask, decimals.price) }}</dd></div>
            <div><dt>Spread</dt><dd class="num" data-testid="spread">{{ fmt(top.spread, decimals.price) }}<small v-if="top.bps !== null"> {{ fmt(top.bps, top.bps < 1 ? 2 : 1) }} bp</small></dd></div>
            <div><dt>Mid</dt><dd class="num">{{ fmt(top.mid, decimals.price + 1) }}</dd></div>
            <div v-if="book.seq !== null && book.seq !== undefined"><dt>Sequence</dt><dd class="num" data-testid="sequence">{{ book.seq }}</dd></div>
            <div><dt>Updated</dt><dd :class="{ warn: updated > 10 }">{{ age(updated) }}</dd></div>
            <div v-for="[name, value] in (paper ? paper.profit : [])" :key="name" data-testid="paper-profit" :data-strategy="name" :data-profit="value">
              <dt>Paper P&amp;L {{ name }}</dt><dd class="num">{{ fmt(value, 2) }}</dd>
            </div>
          </dl>
        </header>
        <div v-if="!book.valid" class="banner bad">Out of sync{{ book.reason ? ': ' + book.reason : '' }}. The feed is resynchronising; prices below are not reliable.</div>
        <div class="book-body">
          <section class="panel ladder" data-testid="ladder">
            <div class="ladder-head"><span>price</span><span>size</span><span>total</span></div>
            <div class="side asks">
              <div v-for="r in ladder.asks" :key="'a' + r.price" class="row sell" :class="{ paper: mark('a', r.price) }">
                <div class="bar" :style="{ width: r.width + '%' }"></div>
                <span class="num price">{{ r.p }}<span v-if="mark('a', r.price)" class="paper-mark" data-testid="paper-order" :data-side="'sell'" :data-price="r.p" :title="mark('a', r.price).strategy">P {{ mark('a', r.price).size - mark('a', r.price).filled }}</span></span><span class="num">{{ r.s }}</span><span class="num muted">{{ r.t }}</span>
              </div>
            </div>
            <div class="spread-row">
              <span>spread <b class="num">{{ fmt(top.spread, decimals.price) }}</b></span>
              <span v-if="top.bps !== null" class="muted">{{ fmt(top.bps, top.bps < 1 ? 2 : 1) }} bp</span>
              <span class="muted">mid <b class="num">{{ fmt(top.mid, decimals.price + 1) }}</b></span>
            </div>
            <div class="side bids">
              <div v-for="r in ladder.bids" :key="'b' + r.price" class="row buy" :class="{ paper: mark('b', r.price) }">
                <div class="bar" :style="{ width: r.width + '%' }"></div>
                <span class="num price">{{ r.p }}<span v-if="mark('b', r.price)" class="paper-mark" data-testid="paper-order" :data-side="'buy'" :data-price="r.p" :title="mark('b', r.price).strategy">P {{ mark('b', r.price).size - mark('b', r.price).filled }}</span></span><span class="num">{{ r.s }}</span><span class="num muted">{{ r.t }}</span>
              </div>
            </div>
          </section>
          <TradesTape :trades="tape" :price-decimals="decimals.price" :size-decimals="decimals.size" />
        </div>
      </div>`,
  };

  const BetfairView = {
    components: { StateBadge },
    props: ["book", "now", "runner"],
    emits: ["runner"],
    setup(props) {
      const LEVELS = 3;
      const pad = (levels) => {
        const out = levels.slice(0, LEVELS);
        while (out.length < LEVELS) out.push(null);
        return out;
      };
      const rows = computed(() =>
        props.book.runners.map((r) => ({
          ...r,
          label: r.name || `Selection ${r.id}`,
          backs: pad(r.back).reverse(), // best back next to the best lay, as on the exchange
          lays: pad(r.lay),
        }))
      );
      const chosen = computed(() => rows.value.find((r) => r.id === props.runner) || null);
      const ladder = computed(() => {
        const r = chosen.value;
        if (!r) return [];
        const prices = new Map();
        // The 8 best each side: the inside of the market fits on screen without scrolling.
        for (const [p, s] of r.back.slice(0, 8)) prices.set(p, { price: p, back: s, lay: null });
        for (const [p, s] of r.lay.slice(0, 8)) {
          const row = prices.get(p) || { price: p, back: null, lay: null };
          row.lay = s;
          prices.set(p, row);
        }
        const list = Array.from(prices.values()).sort((a, b) => b.price - a.price);
        const max = Math.max(1, ...list.map((x) => Math.max(x.back || 0, x.lay || 0)));
        for (const x of list) {
          x.bw = x.back ? (100 * x.back) / max : 0;
          x.lw = x.lay ? (100 * x.lay) / max : 0;
        }
        return list;
      });
      const updated = computed(() => (props.book.recv ? props.now - props.book.recv : null));
      const started = computed(() => (props.book.start ? new Date(props.book.start).toLocaleString() : null));
      return { rows, chosen, ladder, updated, started, fmt, odds, compact, age, clock };
    },
    template: `
      <div class="book-view betfair" :class="{ dim: !book.valid }">
        <header class="book-head">
          <div class="title">
            <span class="venue-tag">betfair</span>
            <h2>{{ book.name || 'Market' }}</h2>
            <span class="muted market-id">{{ book.market }}</span>
            <StateBadge :valid="book.valid" :stale="book.stale" :reason="book.reason" />
            <span v-if="book.status" class="badge" :class="book.status === 'OPEN' ? 'plain' : 'warn'">{{ book.status }}</span>
            <span v-if="book.inplay" class="badge inplay">in play</span>
          </div>
          <dl class="figures">
            <div><dt>Matched</dt><dd class="num">{{ compact(book.matched) }}</dd></div>
            <div><dt>Runners</dt><dd class="num">{{ book.runners.length }}</dd></div>
            <div v-if="book.market_type"><dt>Type</dt><dd>{{ book.market_type }}</dd></div>
            <div v-if="started"><dt>Start</dt><dd>{{ started }}</dd></div>
            <div><dt>Published</dt><dd class="num">{{ clock(book.ts) }}</dd></div>
            <div><dt>Updated</dt><dd :class="{ warn: updated > 30 }">{{ age(updated) }}</dd></div>
          </dl>
        </header>
        <div v-if="!book.valid" class="banner bad">Out of sync{{ book.reason ? ': ' + book.reason : '' }}. The stream is resuming; prices below are not reliable.</div>
        <div v-else-if="book.stale" class="banner warn">Betfair reports its data as stale (status 503): prices may lag.</div>
        <section class="panel runners" data-testid="runners">
          <div class="runner-row head">
            <span class="runner-name">Runner</span>
            <span class="cell head" v-for="i in 3" :key="'bh' + i">{{ i === 3 ? 'Back' : '' }}</span>
            <span class="cell head" v-for="i in 3" :key="'lh' + i">{{ i === 1 ? 'Lay' : '' }}</span>
          </div>
          <div v-for="r in rows" :key="r.id" class="runner-row" :class="{ active: r.id === runner, removed: r.status && r.status !== 'ACTIVE' }"
               :data-runner="r.id" @click="$emit('runner', r.id === runner ? null : r.id)">
            <span class="runner-name">
              <b>{{ r.label }}</b>
              <small class="muted">ltp {{ odds(r.ltp) }} · matched {{ compact(r.matched) }}<template v-if="r.status && r.status !== 'ACTIVE'"> · {{ r.status }}</template></small>
            </span>
            <span v-for="(l, i) in r.backs" :key="'b' + i" class="cell back" :class="{ best: i === 2, empty: !l }">
              <template v-if="l"><b class="num">{{ odds(l[0]) }}</b><small class="num">{{ compact(l[1]) }}</small></template>
            </span>
            <span v-for="(l, i) in r.lays" :key="'l' + i" class="cell lay" :class="{ best: i === 0, empty: !l }">
              <template v-if="l"><b class="num">{{ odds(l[0]) }}</b><small class="num">{{ compact(l[1]) }}</small></template>
            </span>
          </div>
          <div v-if="!rows.length" class="empty">No runners yet.</div>
        </section>
        <section v-if="chosen" class="panel runner-ladder" data-testid="runner-ladder">
          <h3>{{ chosen.label }} <span class="muted">back and lay ladder</span></h3>
          <div class="rl-head"><span>to back</span><span>odds</span><span>to lay</span></div>
          <div class="rl-body">
            <div v-for="x in ladder" :key="x.price" class="rl-row">
              <span class="rl-back"><div class="bar back" :style="{ width: x.bw + '%' }"></div><span class="num">{{ x.back ? fmt(x.back, 2) : '' }}</span></span>
              <span class="num rl-price">{{ odds(x.price) }}</span>
              <span class="rl-lay"><div class="bar lay" :style="{ width: x.lw + '%' }"></div><span class="num">{{ x.lay ? fmt(x.lay, 2) : '' }}</span></span>
            </div>
          </div>
        </section>
        <p v-else class="hint muted">Click a runner to see its full back and lay ladder.</p>
      </div>`,
  };

  const App = {
    components: { Sidebar, OrderBookView, BetfairView },
    setup() {
      let ticker;
      let last = 0;
      onMounted(() => {
        connection.open();
        ticker = setInterval(() => {
          state.now = Date.now() / 1000;
          state.rate = (received - last) * 2;
          last = received;
        }, 500);
      });
      onBeforeUnmount(() => clearInterval(ticker));
      watch(
        () => state.selected,
        (name) => {
          document.title = name ? `${name} · marketstreams` : "marketstreams viewer";
        },
        { immediate: true }
      );
      const selectedSummary = computed(() => state.books.find((b) => b.book === state.selected) || null);
      const venueDown = computed(() => {
        const s = selectedSummary.value;
        const v = s && state.venues[s.venue];
        return v && v.state === "disconnected" ? v : null;
      });
      // The header's rate is the venues' rates added up, so it agrees with the sidebar's figures.
      const venueRate = computed(() =>
        Object.values(state.venues).reduce((sum, v) => sum + (v.updates_per_second || 0), 0)
      );
      return {
        state,
        select,
        selectedSummary,
        venueRate,
        venueDown,
        setRunner: (id) => (state.runner = id),
        setFilter: (text) => (state.filter = text),
      };
    },
    template: `
      <div class="layout" :data-conn="state.conn">
        <header class="topbar">
          <div class="brand"><span class="logo"></span>marketstreams <span class="muted">viewer</span></div>
          <div class="conn" data-testid="connection" :class="state.conn">
            <span class="dot" :class="state.conn === 'open' ? 'connected' : state.conn === 'connecting' ? 'partial' : 'disconnected'"></span>
            <template v-if="state.conn === 'open'"><span data-testid="rate" :data-rate="venueRate"
              :title="Math.round(state.rate) + ' messages/s reach this page'">Connected · {{ Math.round(venueRate) }} updates/s</span></template>
            <template v-else-if="state.conn === 'connecting'">{{ state.everConnected ? 'Reconnecting…' : 'Connecting…' }}</template>
            <template v-else>Proxy unreachable{{ state.closeReason ? ' (' + state.closeReason + ')' : '' }} · retrying in {{ state.retryIn }} s</template>
          </div>
        </header>
        <div v-if="state.conn !== 'open' && state.everConnected" class="banner bad global" data-testid="disconnected">
          Lost the connection to the proxy. The page reconnects by itself; the figures below are frozen.
        </div>
        <div v-if="state.error" class="banner warn global">{{ state.error }}</div>
        <div class="main">
          <Sidebar :books="state.books" :venues="state.venues" :selected="state.selected"
                   :filter="state.filter" @update:filter="setFilter" @select="select" />
          <main class="content" :class="{ frozen: state.conn !== 'open' }">
            <div v-if="venueDown" class="banner warn">{{ venueDown.venue }} is disconnected; the feed is reconnecting.</div>
            <template v-if="state.book && state.book.book === state.selected">
              <BetfairView v-if="state.book.kind === 'betfair_market'" :book="state.book" :now="state.now"
                           :runner="state.runner" @runner="setRunner" />
              <OrderBookView v-else-if="state.book.kind === 'orderbook'" :book="state.book" :trades="state.trades" :now="state.now" />
              <div v-else class="empty">{{ state.book.book }}: valid={{ state.book.valid }} (no view for kind {{ state.book.kind }})</div>
            </template>
            <div v-else-if="state.selected" class="empty">Waiting for {{ state.selected }}…</div>
            <div v-else class="empty">Pick a book on the left.</div>
          </main>
        </div>
      </div>`,
  };

  createApp(App).mount("#app");
})();
