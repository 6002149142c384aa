// The byok key-settings page: one end user's scope, through the gateway's REST API.
// The provider key is sealed here, in the browser (RFC 9180, to key-vault's public key),
// before it leaves the page: neither the gateway nor the product ever sees it.
import { sealForConfigure } from "./seal.js";

const $ = (id) => document.getElementById(id);
const PROVIDER_NAMES = { anthropic: "Anthropic (Claude)", openai: "OpenAI", gemini: "Google Gemini" };
const ROUTES = [
  ["auto", "Automatic"],
  ["metered", "Metered (platform credits)"],
  ["byok:anthropic", "BYOK Claude"],
  ["byok:openai", "BYOK OpenAI"],
  ["byok:gemini", "BYOK Gemini"],
];

const state = { token: "", account: "", scope: null, agents: [], catalog: {}, policy: null,
                keys: [], settings: null, updating: null };

/** Provider from the key's prefix (DESIGN.md section 3), or null with a reason. */
export function detectProvider(key) {
  const k = key.trim();
  if (k === "") return { provider: null, reason: "" };
  if (k.startsWith("sk-ant-")) return { provider: "anthropic", reason: "" };
  if (k.startsWith("AIza")) return { provider: "gemini", reason: "" };
  if (k.startsWith("sk-")) return { provider: "openai", reason: "" };
  return {
    provider: null,
    reason: "Unrecognised key format: Anthropic keys start with sk-ant-, OpenAI keys with sk-, " +
      "Gemini keys with AIza. Keys from resellers with another prefix are not supported.",
  };
}

function readToken() {
  const hash = new URLSearchParams(location.hash.slice(1));
  const fromHash = hash.get("token");
  if (fromHash) {
    sessionStorage.setItem("byok-token", fromHash);
    // The token never stays in the address bar (history, screenshots, referrers).
    history.replaceState(null, "", location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem("byok-token") || "";
}

class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `Request failed (${status})`);
    this.status = status;
    this.code = body && body.error;
  }
}

async function api(method, path, body) {
  const init = { method, headers: { Authorization: `Bearer ${state.token}` } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch(path, init);
  const data = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

const scopePath = (scope) => `/v1/scopes/${encodeURIComponent(scope.type)}/${encodeURIComponent(scope.id)}`;

function flash(text, kind = "ok") {
  const el = $("flash");
  el.textContent = text;
  el.className = kind;
}

// ---- rendering ------------------------------------------------------------------------

function renderKeys() {
  const list = $("key-list");
  list.replaceChildren();
  $("no-keys").hidden = state.keys.length > 0;
  for (const key of state.keys) {
    const li = document.createElement("li");
    li.dataset.provider = key.provider;
    const name = document.createElement("strong");
    name.textContent = PROVIDER_NAMES[key.provider] || key.provider;
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = key.hint;
    const model = document.createElement("span");
    model.className = "muted";
    model.textContent = key.model;
    const badge = document.createElement("span");
    badge.className = `badge ${key.state}`;
    badge.textContent = { active: "Active", disabled: "Disabled", revoked: "Revoked" }[key.state] || key.state;
    const note = document.createElement("span");
    note.className = "muted state-note";
    if (key.state === "disabled") note.textContent = "Not used until you enable it again.";
    if (key.state === "revoked") {
      note.textContent = "The provider rejected this key; requests use platform credits. Update it to resume.";
    }
    const toggle = button(key.state === "disabled" ? "Enable" : "Disable", () => setKeyEnabled(key, key.state === "disabled"));
    toggle.hidden = key.state === "revoked";
    toggle.setAttribute("aria-label", `${toggle.textContent} ${PROVIDER_NAMES[key.provider]} key`);
    const update = button("Update", () => startUpdate(key.provider));
    update.setAttribute("aria-label", `Update ${PROVIDER_NAMES[key.provider]} key`);
    const del = button("Delete", () => confirmDelete(key));
    del.className = "danger";
    del.setAttribute("aria-label", `Delete ${PROVIDER_NAMES[key.provider]} key`);
    li.append(name, hint, model, badge, note, toggle, update, del);
    list.append(li);
  }
  renderActiveProvider();
}

function button(text, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

function renderModels(provider) {
  const select = $("model");
  select.replaceChildren();
  const entry = provider && state.catalog[provider];
  select.disabled = !entry;
  $("custom-model-row").hidden = !(entry && state.policy && state.policy.allow_custom_models);
  if (!entry) return;
  const def = document.createElement("option");
  def.value = "";
  def.textContent = `Provider default (${entry.default})`;
  select.append(def);
  for (const model of entry.models) {
    const opt = document.createElement("option");
    opt.value = model;
    opt.textContent = model;
    select.append(opt);
  }
}

function renderDetection() {
  const { provider, reason } = detectProvider($("api-key").value);
  const el = $("detected");
  if (provider) {
    el.textContent = `Detected: ${PROVIDER_NAMES[provider]}`;
    el.className = "ok";
  } else if (reason) {
    el.textContent = reason;
    el.className = "error";
  } else {
    el.textContent = "Paste a key: the provider is detected from its prefix.";
    el.className = "muted";
  }
  if (state.updating && provider && provider !== state.updating) {
    el.textContent = `This is not a ${PROVIDER_NAMES[state.updating]} key.`;
    el.className = "error";
  }
  renderModels(provider);
  $("save").disabled = !provider || (state.updating !== null && provider !== state.updating);
}

function renderSettings() {
  const s = state.settings;
  $("byok-enabled").checked = !!(s && s.byok_enabled);
  renderActiveProvider();
}

function renderActiveProvider() {
  const usable = state.keys.filter((k) => k.state === "active").map((k) => k.provider);
  const row = $("active-row");
  row.hidden = usable.length < 2;
  const select = $("active-provider");
  select.replaceChildren();
  const none = document.createElement("option");
  none.value = "";
  none.textContent = "Whichever the request asks for";
  select.append(none);
  for (const p of usable) {
    const opt = document.createElement("option");
    opt.value = p;
    opt.textContent = PROVIDER_NAMES[p];
    select.append(opt);
  }
  select.value = (state.settings && state.settings.active_provider) || "";
}

function renderAgents(agentSettings) {
  $("agents-section").hidden = state.agents.length === 0;
  const rows = $("agent-rows");
  rows.replaceChildren();
  for (const [agent, settings] of agentSettings) {
    const tr = document.createElement("tr");
    const name = document.createElement("th");
    name.scope = "row";
    name.textContent = agent.id;
    const cell = document.createElement("td");
    const select = document.createElement("select");
    select.id = `route-${agent.id}`;
    select.setAttribute("aria-label", `Route for agent ${agent.id}`);
    for (const [value, label] of ROUTES) {
      const opt = document.createElement("option");
      opt.value = value;
      opt.textContent = label;
      select.append(opt);
    }
    select.value = settings.route || "auto";
    select.addEventListener("change", () => setAgentRoute(agent, select.value));
    cell.append(select);
    tr.append(name, cell);
    rows.append(tr);
  }
}

function renderBalance(balance) {
  $("balance").textContent = `${balance.balance} credits`;
  const paused = !!(state.settings && state.settings.byok_enabled && state.keys.some((k) => k.state === "active"));
  $("credits-paused").hidden = !paused;
  $("credits-note").textContent = paused
    ? "While BYOK is on, your credits are paused: your balance is kept and not consumed."
    : "Requests use platform credits while no key of yours is in use.";
}

function renderUsage(usage) {
  $("usage-calls").textContent = String(usage.calls);
  $("usage-tokens").textContent = `${usage.input_tokens + usage.output_tokens} (${usage.input_tokens} in, ${usage.output_tokens} out)`;
  $("usage-cost").textContent = `$${usage.estimated_cost_usd.toFixed(4)}`;
  const svg = $("usage-chart");
  svg.replaceChildren();
  const rows = Object.entries(usage.by_model || {});
  const max = Math.max(1, ...rows.map(([, m]) => m.input_tokens + m.output_tokens));
  const ns = "http://www.w3.org/2000/svg";
  rows.slice(0, 5).forEach(([model, m], i) => {
    const y = 8 + i * 22;
    const width = Math.round(((m.input_tokens + m.output_tokens) / max) * 200);
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", "0");
    label.setAttribute("y", String(y + 12));
    label.textContent = model;
    const bar = document.createElementNS(ns, "rect");
    bar.setAttribute("x", "150");
    bar.setAttribute("y", String(y));
    bar.setAttribute("height", "16");
    bar.setAttribute("width", String(Math.max(width, 1)));
    const title = document.createElementNS(ns, "title");
    title.textContent = `${model}: ${m.calls} calls, ${m.input_tokens + m.output_tokens} tokens`;
    bar.append(title);
    svg.append(label, bar);
  });
}

// ---- actions --------------------------------------------------------------------------

async function refresh() {
  const [keys, settings, balance, usage] = await Promise.all([
    api("GET", `${scopePath(state.scope)}/keys`),
    api("GET", `${scopePath(state.scope)}/settings`),
    api("GET", `/v1/accounts/${encodeURIComponent(state.account)}/balance`),
    api("GET", `/v1/usage?scope=${encodeURIComponent(`${state.scope.type}:${state.scope.id}`)}`),
  ]);
  state.keys = keys.keys;
  state.settings = settings;
  renderKeys();
  renderSettings();
  renderBalance(balance);
  renderUsage(usage);
}

async function saveKey(event) {
  event.preventDefault();
  const input = $("api-key");
  const { provider } = detectProvider(input.value);
  if (!provider) return;
  const model = (state.policy && state.policy.allow_custom_models && $("custom-model").value.trim()) || $("model").value;
  $("save").disabled = true;
  flash("Validating the key with the provider\u2026", "muted");
  try {
    const pub = await api("GET", "/v1/public-key");
    const requestId = crypto.randomUUID();
    const sealed = await sealForConfigure({
      key: input.value.trim(), publicKey: pub.public_key, account: state.account,
      scope: state.scope, requestId,
    });
    const body = { sealed_key: sealed, kid: pub.kid, provider, request_id: requestId };
    if (model) body.model = model;
    const reply = await api("POST", `${scopePath(state.scope)}/keys`, body);
    input.value = "";
    const verb = state.updating ? "updated" : "saved";
    stopUpdate();
    flash(`${PROVIDER_NAMES[reply.provider]} key ${verb} (${reply.hint}).`);
    await refresh();
  } catch (err) {
    // A rejected key changes nothing: the stored key (if any) stays in place.
    flash(err.message, "error");
  } finally {
    renderDetection();
  }
}

function startUpdate(provider) {
  state.updating = provider;
  $("add-title").textContent = `Update your ${PROVIDER_NAMES[provider]} key`;
  $("cancel-update").hidden = false;
  $("api-key").value = "";
  renderDetection();
  $("api-key").focus();
}

function stopUpdate() {
  state.updating = null;
  $("add-title").textContent = "Add a key";
  $("cancel-update").hidden = true;
}

function confirmDelete(key) {
  const dialog = $("confirm-delete");
  $("confirm-text").textContent =
    `The ${PROVIDER_NAMES[key.provider]} key ${key.hint} is deleted; requests fall back to the next key or to credits.`;
  dialog.onclose = async () => {
    if (dialog.returnValue !== "delete") return;
    try {
      await api("DELETE", `${scopePath(state.scope)}/keys/${key.provider}`);
      flash(`${PROVIDER_NAMES[key.provider]} key deleted.`);
      await refresh();
    } catch (err) {
      flash(err.message, "error");
    }
  };
  dialog.showModal();
}

async function setKeyEnabled(key, enabled) {
  try {
    await api("PUT", `${scopePath(state.scope)}/keys/${key.provider}/enabled`, { enabled });
    flash(`${PROVIDER_NAMES[key.provider]} key ${enabled ? "enabled" : "disabled"}.`);
    await refresh();
  } catch (err) {
    flash(err.message, "error");
  }
}

async function patchSettings(scope, change, done) {
  try {
    const settings = await api("PATCH", `${scopePath(scope)}/settings`, change);
    flash(done);
    return settings;
  } catch (err) {
    flash(err.message, "error");
    return null;
  }
}

async function setAgentRoute(agent, route) {
  await patchSettings(agent, { route }, `Agent ${agent.id} now routes: ${route}.`);
}

async function boot() {
  state.token = readToken();
  if (!state.token) {
    flash("This page needs a settings link from your product.", "error");
    return;
  }
  try {
    const me = await api("GET", "/v1/whoami");
    state.account = me.account;
    [state.scope, ...state.agents] = me.scopes;
    $("scope-line").textContent = `Keys for ${state.scope.type} ${state.scope.id}`;
    const [catalog, policy] = await Promise.all([
      api("GET", "/v1/catalog"),
      api("GET", `/v1/accounts/${encodeURIComponent(state.account)}/policy`),
    ]);
    state.catalog = catalog.providers;
    state.policy = policy;
    await refresh();
    const agentSettings = await Promise.all(
      state.agents.map(async (a) => [a, await api("GET", `${scopePath(a)}/settings`)]),
    );
    renderAgents(agentSettings);
  } catch (err) {
    flash(err.message, "error");
  } finally {
    $("app").setAttribute("aria-busy", "false");
  }
}

$("api-key").addEventListener("input", renderDetection);
$("eye").addEventListener("click", () => {
  const input = $("api-key");
  const show = input.type === "password";
  input.type = show ? "text" : "password";
  $("eye").setAttribute("aria-pressed", String(show));
  $("eye").textContent = show ? "Hide key" : "Show key";
});
$("key-form").addEventListener("submit", saveKey);
$("cancel-update").addEventListener("click", () => { stopUpdate(); renderDetection(); });
$("byok-enabled").addEventListener("change", async (e) => {
  const on = e.target.checked;
  const s = await patchSettings(state.scope, { byok_enabled: on },
    on ? "BYOK is on: your keys are used and credits are paused." : "BYOK is off: your keys are kept, credits are used.");
  if (s) await refresh();
});
$("active-provider").addEventListener("change", async (e) => {
  const s = await patchSettings(state.scope, { active_provider: e.target.value || null }, "Active provider saved.");
  if (s) await refresh();
});
boot();
