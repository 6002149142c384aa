// Rendering of the settings page from the page state (no network here).

export const $ = (id) => document.getElementById(id);

export const PROVIDER_NAMES = {
  anthropic: "Anthropic (Claude)",
  openai: "OpenAI",
  gemini: "Google Gemini",
};
export const providerName = (p) => PROVIDER_NAMES[p] || p;

export const ROUTES = [
  ["auto", "Automatic"],
  ["metered", "Metered (platform credits)"],
  ["byok:anthropic", "BYOK Claude"],
  ["byok:openai", "BYOK OpenAI"],
  ["byok:gemini", "BYOK Gemini"],
];

const STATE_LABELS = { active: "Active", disabled: "Disabled", revoked: "Revoked" };
const STATE_NOTES = {
  disabled: "Disabled: not used until you enable it again. The key is kept.",
  revoked:
    "Revoked: the provider rejected this key, so requests use platform credits. " +
    "Update it with a working key to resume.",
};

/**
 * The provider of a key from its prefix (the catalog's `key_prefix`, longest first, so that
 * `sk-ant-` wins over `sk-`), or null with a reason the user can act on.
 */
export function detectProvider(key, catalog) {
  const k = key.trim();
  if (k === "") return { provider: null, reason: "" };
  const entries = Object.values(catalog).filter((e) => e.key_prefix);
  entries.sort((a, b) => b.key_prefix.length - a.key_prefix.length);
  const hit = entries.find((e) => k.startsWith(e.key_prefix));
  if (hit) return { provider: hit.provider, reason: "" };
  const known = entries
    .slice()
    .reverse()
    .map((e) => `${providerName(e.provider)} keys start with ${e.key_prefix}`)
    .join("; ");
  return {
    provider: null,
    reason: `Unrecognised key format: ${known}. Check that you copied the whole key.`,
  };
}

export function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

export function button(text, label, onClick, className) {
  const b = el("button", text, className);
  b.type = "button";
  b.setAttribute("aria-label", label);
  b.addEventListener("click", onClick);
  return b;
}

export function flash(text, kind = "ok") {
  const node = $("flash");
  node.textContent = text;
  node.className = kind;
}

/** The saved keys: provider, masked hint, model, state; never the key. */
export function renderKeys(state, actions) {
  const list = $("key-list");
  list.replaceChildren();
  $("no-keys").hidden = state.keys.length > 0;
  for (const key of state.keys) {
    const name = providerName(key.provider);
    const li = el("li");
    li.dataset.provider = key.provider;
    li.dataset.state = key.state;
    const badge = el("span", STATE_LABELS[key.state] || key.state, `badge ${key.state}`);
    li.append(el("strong", name), el("code", key.hint, "hint"), el("span", key.model, "muted model"), badge);
    const controls = el("span", undefined, "controls");
    if (key.state !== "revoked") {
      const enable = key.state === "disabled";
      controls.append(
        button(enable ? "Enable" : "Disable", `${enable ? "Enable" : "Disable"} ${name} key`, () =>
          actions.setKeyEnabled(key, enable)),
      );
    }
    controls.append(
      button("Update", `Update ${name} key`, () => actions.startUpdate(key)),
      button("Delete", `Delete ${name} key`, () => actions.confirmDelete(key), "danger"),
    );
    li.append(controls);
    if (STATE_NOTES[key.state]) li.append(el("p", STATE_NOTES[key.state], `state-note ${key.state}`));
    list.append(li);
  }
}

/** The model dropdown: the provider's default, then its curated models. */
export function renderModels(state, provider, selected) {
  const select = $("model");
  const entry = provider && state.catalog[provider];
  const current = selected ?? select.value;
  select.replaceChildren();
  select.disabled = !entry;
  const custom = !!(entry && state.policy && state.policy.allow_custom_models);
  $("custom-model-row").hidden = !custom;
  if (!entry) {
    select.append(el("option", "Enter a key to choose a model"));
    return;
  }
  const def = el("option", `Provider default (${entry.default_model})`);
  def.value = "";
  select.append(def);
  for (const model of entry.models) {
    if (model === entry.default_model) continue;
    const opt = el("option", model);
    opt.value = model;
    select.append(opt);
  }
  select.value = entry.models.includes(current) && current !== entry.default_model ? current : "";
}

export function renderSettings(state) {
  const s = state.settings;
  const on = !!(s && s.byok_enabled);
  const toggle = $("byok-enabled");
  toggle.checked = on;
  toggle.disabled = !!(state.policy && !state.policy.byok_allowed);
  $("byok-note").textContent = state.policy && !state.policy.byok_allowed
    ? "Your plan does not allow your own keys: requests use platform credits."
    : on
      ? "BYOK is on: your active keys serve your requests."
      : "BYOK is off: your keys are kept but not used; requests use platform credits.";
  const usable = state.keys.filter((k) => k.state === "active").map((k) => k.provider);
  $("active-row").hidden = usable.length < 2;
  const select = $("active-provider");
  select.replaceChildren();
  const none = el("option", "Whichever the request asks for");
  none.value = "";
  select.append(none);
  for (const p of usable) {
    const opt = el("option", providerName(p));
    opt.value = p;
    select.append(opt);
  }
  select.value = (s && usable.includes(s.active_provider) && s.active_provider) || "";
}

/** One row per agent scope of the token: metered, BYOK Claude, BYOK OpenAI... */
export function renderAgents(state, onChange) {
  $("agents-section").hidden = state.agents.length === 0;
  const rows = $("agent-rows");
  rows.replaceChildren();
  for (const { scope, settings } of state.agents) {
    const tr = el("tr");
    const name = el("th", scope.id);
    name.scope = "row";
    const cell = el("td");
    const select = el("select");
    select.id = `route-${scope.id}`;
    select.setAttribute("aria-label", `Route for agent ${scope.id}`);
    for (const [value, label] of ROUTES) {
      const opt = el("option", label);
      opt.value = value;
      select.append(opt);
    }
    select.value = settings.route || "auto";
    select.addEventListener("change", () => onChange(scope, select.value));
    cell.append(select);
    tr.append(name, cell);
    rows.append(tr);
  }
}

/** Credits are paused while BYOK serves this scope (BYOK on, an active key, BYOK-first plan). */
export function creditsPaused(state, balance) {
  const policy = state.policy || {};
  return !!(policy.byok_allowed !== false && balance.mode === "byok_first" &&
    state.settings && state.settings.byok_enabled && state.keys.some((k) => k.state === "active"));
}

export function renderBalance(state, balance) {
  $("balance").textContent = `${balance.balance.toLocaleString("en-US")} credits`;
  const paused = creditsPaused(state, balance);
  $("credits-paused").hidden = !paused;
  $("credits-note").textContent = paused
    ? "Credits paused: while BYOK is on your own keys are used and your balance is kept."
    : "Requests without a key of yours in use consume platform credits.";
}

const fmt = (n) => n.toLocaleString("en-US");

export function renderUsage(usage) {
  $("usage-calls").textContent = fmt(usage.calls);
  const total = usage.input_tokens + usage.output_tokens;
  $("usage-tokens").textContent =
    `${fmt(total)} (${fmt(usage.input_tokens)} in, ${fmt(usage.output_tokens)} out)`;
  $("usage-cost").textContent = `$${usage.estimated_cost_usd.toFixed(4)}` +
    (usage.unpriced_calls ? ` (${usage.unpriced_calls} calls unpriced)` : "");
  drawChart(Object.entries(usage.by_model || {}));
}

function drawChart(rows) {
  const svg = $("usage-chart");
  svg.replaceChildren();
  const ns = "http://www.w3.org/2000/svg";
  const tokens = (m) => m.input_tokens + m.output_tokens;
  rows.sort((a, b) => tokens(b[1]) - tokens(a[1]));
  const max = Math.max(1, ...rows.map(([, m]) => tokens(m)));
  const shown = rows.slice(0, 5);
  svg.toggleAttribute("hidden", shown.length === 0);
  svg.setAttribute("height", String(Math.max(shown.length, 1) * 22 + 8));
  $("chart-caption").textContent = shown.length
    ? `Tokens by model: ${shown.map(([model, m]) => `${model} ${fmt(tokens(m))}`).join(", ")}`
    : "Tokens by model: no usage yet";
  shown.forEach(([model, m], i) => {
    const y = 8 + i * 22;
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", "0");
    label.setAttribute("y", String(y + 12));
    label.textContent = model.length > 24 ? `${model.slice(0, 23)}\u2026` : model;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", "170");
    bar.setAttribute("y", String(y));
    bar.setAttribute("height", "16");
    bar.setAttribute("width", String(Math.max(Math.round((tokens(m) / max) * 180), 1)));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${model}: ${m.calls} calls, ${fmt(tokens(m))} tokens`;
    bar.append(title);
    svg.append(label, bar);
  });
}
