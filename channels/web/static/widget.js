/*! libromind chat widget — no build step, no dependencies.
 *
 * Embed on any page:
 *   <script src="https://HOST/static/widget.js" async
 *           data-token="SIGNED_SESSION_TOKEN"  (optional: minted by your backend; else POST /v1/session)
 *           data-title="Bookstore assistant"   (optional)
 *           data-mode="bubble"                 (bubble | inline)
 *           data-target="#chat"                (inline mode: where to mount)
 *           data-open="false"></script>
 *
 * Or from script: Libromind.mount({api, token, mode, target, title, open}) -> {open, close, send, destroy}.
 * Everything renders inside a shadow root so host-page CSS never leaks in (or out).
 * Replies stream over POST /v1/chat (Server-Sent Events read with fetch + ReadableStream).
 */
(function () {
  "use strict";
  if (window.Libromind && window.Libromind.version) return;

  var STEP_TEXT = {
    expand: "Rephrasing your question…", hyde: "Drafting a search passage…", retrieve: "Searching the help documents…",
    rerank: "Ranking the passages…", catalog: "Searching the catalog…", order: "Checking your order…",
    confirm: "Preparing your quote…", answer: "Writing the answer…", clarify: "Asking for details…",
    refuse: "Checking the request…"
  };
  // Material icons (Apache-2.0) as inline SVG: emoji fonts are not everywhere.
  var ICONS = {
    chat: "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z",
    up: "M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 " +
      "7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z",
    down: "M15 3H6c-.83 0-1.54.5-1.84 1.22l-3.02 7.05c-.09.23-.14.47-.14.73v2c0 1.1.9 2 2 2h6.31l-.95 4.57-.03.32c0 " +
      ".41.17.79.44 1.06L9.83 23l6.59-6.59c.36-.36.58-.86.58-1.41V5c0-1.1-.9-2-2-2zm4 0v12h4V3h-4z"
  };
  var ISBN_LINE = /^\s*(?:\d+\.\s+)?(.+?)\s+by\s+.*?\(ISBN\s+(97[89]\d{10}|\d{9}[\dX])\)/;
  var uid = 0;

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v === null || v === undefined || v === false) return;
        if (k === "text") node.textContent = v;
        else if (k === "class") node.className = v;
        else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? "" : String(v));
      });
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(typeof c === "string" ? document.createTextNode(c) : c); });
    return node;
  }

  function icon(name, size) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", String(size || 18));
    svg.setAttribute("height", String(size || 18));
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", ICONS[name]);
    path.setAttribute("fill", "currentColor");
    svg.appendChild(path);
    return svg;
  }

  function money(cents, currency) {
    cents = Math.round(Number(cents) || 0);
    var sym = (currency || "USD") === "USD" ? "$" : currency + " ";
    return sym + Math.floor(cents / 100) + "." + String(cents % 100).padStart(2, "0");
  }

  function newThread() {
    var a = new Uint8Array(8);
    (window.crypto || {}).getRandomValues ? window.crypto.getRandomValues(a) : a.forEach(function (_, i) { a[i] = Math.random() * 256; });
    return "t-" + Array.prototype.map.call(a, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
  }

  /** Parse a text/event-stream body incrementally; calls onEvent(name, data) per event. */
  function sseReader(onEvent) {
    var buf = "";
    function frame(text) {
      var name = "message", data = [];
      text.split("\n").forEach(function (line) {
        if (!line || line.charAt(0) === ":") return;
        var i = line.indexOf(":");
        var field = i < 0 ? line : line.slice(0, i);
        var value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "event") name = value;
        else if (field === "data") data.push(value);
      });
      if (!data.length) return;
      var payload;
      try { payload = JSON.parse(data.join("\n")); } catch (e) { payload = {text: data.join("\n")}; }
      onEvent(name, payload);
    }
    return {
      push: function (chunk) {
        buf += chunk;
        var hold = buf.slice(-1) === "\r" ? "\r" : "";  // a CRLF may be split across chunks
        var body = (hold ? buf.slice(0, -1) : buf).replace(/\r\n?/g, "\n");
        var idx;
        while ((idx = body.indexOf("\n\n")) >= 0) {
          frame(body.slice(0, idx));
          body = body.slice(idx + 2);
        }
        buf = body + hold;
      },
      end: function () { if (buf.trim()) frame(buf.replace(/\r\n?/g, "\n")); buf = ""; }
    };
  }

  function errorText(status, body) {
    if (body && typeof body === "object") {
      if (body.message) return body.message;
      if (body.detail && body.detail.message) return body.detail.message;
    }
    if (status === 401) return "Your session is not valid any more. Please reload the page.";
    if (status === 429) return "Too many requests; please wait a moment and try again.";
    return "Sorry, the assistant is unavailable right now (HTTP " + status + "). Please try again.";
  }

  function Widget(opts) {
    this.opts = opts;
    this.api = (opts.api || "").replace(/\/+$/, "");
    this.assets = opts.assets || this.api + "/static/";
    this.token = opts.token || null;
    this.minted = !opts.token;
    this.thread = opts.thread || newThread();
    this.mode = opts.mode === "inline" ? "inline" : "bubble";
    this.busy = false;
    this.queue = Promise.resolve();
    this.id = "lm" + (++uid);
    this.build();
  }

  Widget.prototype.build = function () {
    var self = this;
    var host = el("div", {"class": "libromind-host", "data-libromind": this.mode});
    if (this.mode === "inline") {
      var target = typeof this.opts.target === "string" ? document.querySelector(this.opts.target) : this.opts.target;
      (target || document.body).appendChild(host);
    } else {
      document.body.appendChild(host);
    }
    this.hostEl = host;
    var root = host.attachShadow ? host.attachShadow({mode: "open"}) : host;
    this.root = root;
    root.appendChild(el("link", {rel: "stylesheet", href: this.assets + "widget.css"}));
    var title = this.opts.title || "Bookstore assistant";
    var panelId = this.id + "-panel", inputId = this.id + "-input", titleId = this.id + "-title";

    this.launcher = el("button", {
      "class": "lm-launcher", type: "button", "aria-expanded": "false", "aria-controls": panelId,
      "aria-label": "Open chat: " + title, onclick: function () { self.toggle(); }
    }, [icon("chat", 28)]);
    this.closeBtn = el("button", {
      "class": "lm-close", type: "button", "aria-label": "Close chat", text: "×",
      onclick: function () { self.close(); }
    });
    this.log = el("div", {"class": "lm-log", role: "log", "aria-live": "off", "aria-labelledby": titleId, tabindex: "0"});
    this.status = el("div", {"class": "lm-sr", role: "status", "aria-live": "polite", "aria-atomic": "true"});
    this.input = el("textarea", {
      id: inputId, "class": "lm-input", rows: "1", maxlength: "4000", autocomplete: "off",
      placeholder: "Type your question…"
    });
    this.sendBtn = el("button", {"class": "lm-send", type: "submit", text: "Send"});
    var form = el("form", {"class": "lm-form", onsubmit: function (e) { e.preventDefault(); self.submit(); }}, [
      el("label", {"for": inputId, "class": "lm-sr", text: "Your message"}), this.input, this.sendBtn
    ]);
    this.input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); self.submit(); }
    });
    this.panel = el("section", {
      id: panelId, "class": "lm-panel", role: this.mode === "bubble" ? "dialog" : "region", "aria-labelledby": titleId
    }, [
      el("header", {"class": "lm-header"}, [el("h2", {id: titleId, "class": "lm-title", text: title}),
        this.mode === "bubble" ? this.closeBtn : null]),
      this.log, this.status, form,
      el("p", {"class": "lm-foot", text: "Answers cite our help pages. Orders are placed only after you confirm."})
    ]);
    this.panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape" && self.mode === "bubble") { e.preventDefault(); e.stopPropagation(); self.close(); }
    });
    var wrap = el("div", {"class": "lm-root lm-" + this.mode}, [this.mode === "bubble" ? this.launcher : null, this.panel]);
    root.appendChild(wrap);
    this.botMessage(this.opts.greeting ||
      "Hi! I can answer questions from our help pages (with citations), find books, and place orders after you confirm.");
    if (this.mode === "bubble") {
      this.panel.hidden = true;
      if (this.opts.open) this.open();
    }
  };

  Widget.prototype.open = function () {
    if (this.mode !== "bubble") { this.input.focus(); return; }
    this.panel.hidden = false;
    this.launcher.setAttribute("aria-expanded", "true");
    this.launcher.setAttribute("aria-label", "Close chat");
    this.hostEl.setAttribute("data-open", "true");
    this.input.focus();
  };
  Widget.prototype.close = function () {
    if (this.mode !== "bubble") return;
    this.panel.hidden = true;
    this.launcher.setAttribute("aria-expanded", "false");
    this.launcher.setAttribute("aria-label", "Open chat: " + (this.opts.title || "Bookstore assistant"));
    this.hostEl.removeAttribute("data-open");
    this.launcher.focus();
  };
  Widget.prototype.toggle = function () { if (this.panel.hidden) this.open(); else this.close(); };
  Widget.prototype.destroy = function () { this.hostEl.remove(); };
  Widget.prototype.announce = function (text) {
    var s = this.status;
    s.textContent = "";
    setTimeout(function () { s.textContent = text; }, 30);
  };
  Widget.prototype.scroll = function () { this.log.scrollTop = this.log.scrollHeight; };

  Widget.prototype.userMessage = function (text) {
    this.log.appendChild(el("div", {"class": "lm-msg lm-user"}, [
      el("span", {"class": "lm-sr", text: "You said: "}), el("div", {"class": "lm-text", text: text})]));
    this.scroll();
  };
  Widget.prototype.botMessage = function (text) {
    var body = el("div", {"class": "lm-text", text: text || ""});
    var node = el("div", {"class": "lm-msg lm-bot"}, [el("span", {"class": "lm-sr", text: "Assistant: "}), body]);
    this.log.appendChild(node);
    this.scroll();
    return {node: node, body: body};
  };

  Widget.prototype.session = function (force) {
    var self = this;
    if (this.token && !force) return Promise.resolve(this.token);
    if (!this.minted) return Promise.resolve(this.token);  // the host page's token: never replace it
    var key = "libromind.session:" + this.api;
    if (!force) {
      try { var saved = window.localStorage.getItem(key); if (saved) { this.token = saved; return Promise.resolve(saved); } }
      catch (e) { /* storage may be blocked */ }
    }
    return fetch(this.api + "/v1/session", {method: "POST", headers: {"Accept": "application/json"}})
      .then(function (r) {
        if (!r.ok) {
          return r.json().catch(function () { return null; }).then(function (body) {
            throw new Error(errorText(r.status, body));
          });
        }
        return r.json();
      })
      .then(function (data) {
        self.token = data.token;
        try { window.localStorage.setItem(key, data.token); } catch (e) { /* ignore */ }
        return self.token;
      });
  };

  Widget.prototype.post = function (path, body, accept, retried) {
    var self = this;
    return this.session(false).then(function (token) {
      var headers = {"Content-Type": "application/json", "Accept": accept || "application/json"};
      if (token) headers.Authorization = "Bearer " + token;
      return fetch(self.api + path, {method: "POST", headers: headers, body: JSON.stringify(body)});
    }).then(function (r) {
      if (r.status === 401 && self.minted && !retried) {
        return self.session(true).then(function () { return self.post(path, body, accept, true); });
      }
      return r;
    });
  };

  Widget.prototype.submit = function () {
    var text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this.send(text);
  };

  /** Send a message (queued behind a reply still streaming); resolves when its reply is complete. */
  Widget.prototype.send = function (text) {
    var self = this;
    var run = this.queue.then(function () { return self.exchange(text); });
    this.queue = run.catch(function () { /* reported in the conversation */ });
    return run;
  };

  /** One exchange: post the message and stream the reply into a new assistant message. */
  Widget.prototype.exchange = function (text) {
    var self = this;
    this.busy = true;
    this.sendBtn.disabled = true;
    this.log.setAttribute("aria-busy", "true");
    this.userMessage(text);
    var msg = this.botMessage("");
    msg.node.classList.add("lm-pending");
    var steps = el("div", {"class": "lm-steps", "aria-hidden": "true", text: "Thinking…"});
    msg.node.insertBefore(steps, msg.body);
    var state = {text: "", gotFinal: false, error: null, citations: [], quote: null};
    this.announce("Sending. Waiting for the answer…");

    function handle(name, data) {
      if (name === "step") {
        steps.textContent = STEP_TEXT[data.name] || "Working…";
      } else if (name === "token") {
        state.text += data.text || "";
        msg.body.textContent = state.text;
        self.scroll();
      } else if (name === "citations") {
        state.citations = data.citations || [];
      } else if (name === "confirm") {
        state.quote = data.quote || null;
      } else if (name === "error") {
        state.error = data.message || "Sorry, something went wrong.";
      } else if (name === "final") {
        state.gotFinal = true;
        self.finish(msg, data, state);
      }
    }

    return this.post("/v1/chat", {message: text, thread: this.thread}, "text/event-stream")
      .then(function (r) {
        var type = r.headers.get("content-type") || "";
        if (!r.ok || type.indexOf("text/event-stream") < 0) {
          return r.json().catch(function () { return null; }).then(function (body) {
            throw new Error(errorText(r.status, body));
          });
        }
        var parser = sseReader(handle);
        if (!r.body || !r.body.getReader) {
          return r.text().then(function (t) { parser.push(t); parser.end(); });
        }
        var reader = r.body.getReader(), dec = new TextDecoder();
        function pump() {
          return reader.read().then(function (res) {
            if (res.done) { parser.push(dec.decode()); parser.end(); return; }
            parser.push(dec.decode(res.value, {stream: true}));
            return pump();
          });
        }
        return pump();
      })
      .then(function () {
        if (!state.gotFinal) {
          self.fail(msg, state.error || "The answer was cut off. Please try again.");
        } else if (state.error && state.error !== msg.body.textContent) {
          self.note(msg, state.error);
        }
      })
      .catch(function (err) {
        var m = err && err.message && !/fetch|network/i.test(err.message) ? err.message :
          "Could not reach the assistant. Check your connection and try again.";
        self.fail(msg, m);
      })
      .then(function () {
        steps.remove();
        msg.node.classList.remove("lm-pending");
        self.busy = false;
        self.sendBtn.disabled = false;
        self.log.removeAttribute("aria-busy");
        self.scroll();
      });
  };

  Widget.prototype.fail = function (msg, text) {
    msg.node.classList.add("lm-error");
    msg.body.textContent = (msg.body.textContent ? msg.body.textContent + "\n\n" : "") + text;
    this.announce(text);
  };
  Widget.prototype.note = function (msg, text) {
    msg.node.appendChild(el("p", {"class": "lm-note", role: "alert", text: text}));
  };

  Widget.prototype.finish = function (msg, reply, state) {
    var self = this;
    var answer = reply.answer || state.text || "";
    msg.body.textContent = answer;
    var meta = reply.meta || {};
    if (meta.answer_id) msg.node.setAttribute("data-answer-id", meta.answer_id);
    var citations = reply.citations && reply.citations.length ? reply.citations : state.citations;
    if (citations && citations.length) msg.node.appendChild(this.renderCitations(citations));
    var quote = reply.confirm || state.quote;
    var books = [];
    if (!quote) books = this.booksOf(reply, answer);
    if (books.length) msg.node.appendChild(this.renderBooks(books));
    if (!quote && /your cart:/i.test(answer)) {
      msg.node.appendChild(el("div", {"class": "lm-actions"}, [el("button", {
        type: "button", "class": "lm-btn", text: "Check out",
        onclick: function () { self.send("check out my cart"); }
      })]));
    }
    if (quote) msg.node.appendChild(this.renderQuote(quote));
    if (reply.order && reply.order.id) {
      msg.node.appendChild(el("p", {"class": "lm-order", "data-order-id": reply.order.id,
        text: "Order " + reply.order.id + ": " + (reply.order.status || "")}));
    }
    if (meta.answer_id) msg.node.appendChild(this.renderFeedback(meta.answer_id));
    var spoken = answer.length > 400 ? answer.slice(0, 400) + "…" : answer;
    this.announce("Assistant: " + spoken + (citations && citations.length ? " (" + citations.length + " sources cited)" : "") +
      (quote ? " Confirm or cancel the order with the buttons below the answer." : ""));
  };

  Widget.prototype.booksOf = function (reply, answer) {
    if (reply.items && reply.items.length) {
      return reply.items.filter(function (b) { return b && b.isbn; }).map(function (b) {
        return {isbn: b.isbn, title: b.title || b.isbn, stock: b.stock};
      });
    }
    var seen = {}, out = [];
    answer.split("\n").forEach(function (line) {
      var m = ISBN_LINE.exec(line);
      if (m && !seen[m[2]]) { seen[m[2]] = 1; out.push({isbn: m[2], title: m[1], stock: /out of stock/i.test(line) ? 0 : null}); }
    });
    return out;
  };

  Widget.prototype.renderCitations = function (citations) {
    var self = this;
    var list = el("ol", {"class": "lm-cites", "aria-label": "Sources"});
    citations.forEach(function (c, i) {
      var label = "[" + (i + 1) + "] " + (c.source || "source") + (c.section ? " · §" + c.section : "") +
        (c.page !== null && c.page !== undefined && c.page !== "" ? " · p. " + c.page : "");
      var snipId = self.id + "-cite-" + (++uid);
      var snippet = el("blockquote", {"class": "lm-snippet", id: snipId, text: c.snippet || "(no excerpt)"});
      snippet.hidden = true;
      var btn = el("button", {
        type: "button", "class": "lm-cite", "aria-expanded": "false", "aria-controls": snipId, text: label,
        onclick: function () {
          var open = btn.getAttribute("aria-expanded") === "true";
          btn.setAttribute("aria-expanded", open ? "false" : "true");
          snippet.hidden = open;
        }
      });
      list.appendChild(el("li", null, [btn, snippet]));
    });
    return list;
  };

  Widget.prototype.renderBooks = function (books) {
    var self = this;
    var list = el("ul", {"class": "lm-books", "aria-label": "Books"});
    books.forEach(function (b) {
      list.appendChild(el("li", {"class": "lm-book", "data-isbn": b.isbn}, [
        el("span", {"class": "lm-book-title", text: b.title}),
        el("button", {
          type: "button", "class": "lm-btn lm-add", "aria-label": "Add " + b.title + " to cart", text: "Add to cart",
          disabled: b.stock === 0,
          onclick: function () { self.send("add " + b.isbn + " to my cart"); }
        })
      ]));
    });
    return list;
  };

  Widget.prototype.renderQuote = function (q) {
    var self = this;
    var rows = (q.items || []).map(function (it) {
      return el("tr", null, [el("td", {text: it.title + " (ISBN " + it.isbn + ")"}), el("td", {text: String(it.quantity)}),
        el("td", {text: money(it.line_total_cents, q.currency)})]);
    });
    var table = el("table", {"class": "lm-quote-table"}, [
      el("caption", {text: "Your order (not placed yet)"}),
      el("thead", null, [el("tr", null, [el("th", {scope: "col", text: "Book"}), el("th", {scope: "col", text: "Qty"}),
        el("th", {scope: "col", text: "Price"})])]),
      el("tbody", null, rows),
      el("tfoot", null, [el("tr", null, [el("th", {scope: "row", colspan: "2", text: "Total"}),
        el("td", {text: money(q.total_cents, q.currency) + (q.demo_price ? " (demo prices)" : "")})])])
    ]);
    var confirmBtn, cancelBtn;
    function decide(yes) {
      confirmBtn.disabled = true; cancelBtn.disabled = true;
      box.setAttribute("data-decided", yes ? "confirmed" : "cancelled");
      self.send(yes ? "yes, confirm" : "no, cancel").then(function () { self.input.focus(); });
    }
    confirmBtn = el("button", {type: "button", "class": "lm-btn lm-confirm", text: "Confirm order",
      onclick: function () { decide(true); }});
    cancelBtn = el("button", {type: "button", "class": "lm-btn lm-cancel", text: "Cancel",
      onclick: function () { decide(false); }});
    var box = el("div", {"class": "lm-quote", role: "group", "aria-label": "Confirm your order", "data-quote-id": q.quote_id},
      [table, el("div", {"class": "lm-actions"}, [confirmBtn, cancelBtn])]);
    return box;
  };

  Widget.prototype.renderFeedback = function (answerId) {
    var self = this;
    var thanks = el("span", {"class": "lm-thanks", "aria-live": "polite"});
    var up, down;
    function rate(score) {
      self.post("/v1/feedback", {answer_id: answerId, score: score}).then(function (r) {
        return r.json().catch(function () { return null; }).then(function (body) {
          if (!r.ok) throw new Error(errorText(r.status, body));
          up.setAttribute("aria-pressed", score === 1 ? "true" : "false");
          down.setAttribute("aria-pressed", score === -1 ? "true" : "false");
          thanks.textContent = "Thanks for your feedback.";
        });
      }).catch(function (err) { thanks.textContent = err.message || "Feedback could not be sent."; });
    }
    up = el("button", {type: "button", "class": "lm-rate lm-up", "aria-pressed": "false", "aria-label": "Helpful answer",
      title: "Helpful", onclick: function () { rate(1); }}, [icon("up")]);
    down = el("button", {type: "button", "class": "lm-rate lm-down", "aria-pressed": "false", "aria-label": "Not helpful",
      title: "Not helpful", onclick: function () { rate(-1); }}, [icon("down")]);
    return el("div", {"class": "lm-feedback", role: "group", "aria-label": "Rate this answer"}, [up, down, thanks]);
  };

  function mount(opts) {
    opts = opts || {};
    var w = new Widget(opts);
    var api = {
      open: function () { w.open(); }, close: function () { w.close(); },
      send: function (t) { return w.send(t); }, destroy: function () { w.destroy(); },
      get thread() { return w.thread; }, widget: w
    };
    mount.instances.push(api);
    return api;
  }
  mount.instances = [];

  window.Libromind = {version: "0.1.0", mount: mount, instances: mount.instances, _sseReader: sseReader};

  // Auto-mount from the <script data-...> tag that loaded us.
  var script = document.currentScript;
  if (!script) {
    var all = document.querySelectorAll("script[src*='widget.js']");
    script = all[all.length - 1];
  }
  if (script && script.getAttribute("data-auto") !== "false") {
    var src = new URL(script.getAttribute("src"), document.baseURI);
    var d = script.dataset;
    var options = {
      api: d.api || src.origin, assets: src.href.replace(/widget\.js(\?.*)?$/, ""), token: d.token || null,
      mode: d.mode || "bubble", target: d.target || null, title: d.title || null, greeting: d.greeting || null,
      open: d.open === "true"
    };
    var go = function () { mount(options); };
    if (document.body) go(); else document.addEventListener("DOMContentLoaded", go);
  }
})();
