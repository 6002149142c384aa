// The byok key-settings page: one end user's scope, through the gateway's REST API.
// The provider key is sealed here, in the browser (RFC 9180, to key-vault's public key),
// before it leaves the page: neither the gateway nor the product ever sees it.
import { accountPath, api, parseScope, readToken, scopePath, scopeText } from "./api.js";
import { sealForConfigure } from "./seal.js";
import {
  $, detectProvider, flash, providerName, renderAgents, renderBalance, renderKeys, renderModels,
  renderSettings, renderUsage,
} from "./view.js";

const state = {
  account: "", scope: null, agents: [], catalog: {}, policy: null,
  keys: [], settings: null, updating: null, busy: false,
};

const actions = { setKeyEnabled, startUpdate, confirmDelete };

// ---- the key form ---------------------------------------------------------------------

function renderDetection() {
  const { provider, reason } = detectProvider($("api-key").value, state.catalog);
  const note = $("detected");
  if (provider) {
    note.textContent = `Detected: ${providerName(provider)}`;
    note.className = "ok";
  } else if (reason) {
    note.textContent = reason;
    note.className = "error";
  } else {
    note.textContent = "Paste a key: the provider is detected from its prefix.";
    note.className = "muted";
  }
  const mismatch = state.updating && provider && provider !== state.updating.provider;
  if (mismatch) {
    const name = providerName(state.updating.provider);
    note.textContent = `This is not ${/^[AEIOU]/.test(name) ? "an" : "a"} ${name} key.`;
    note.className = "error";
  }
  $("api-key").setAttribute("aria-invalid", String(!!(reason || mismatch)));
  renderModels(state, provider);
  $("save").disabled = state.busy || !provider || !!mismatch;
}

function chosenModel() {
  const custom = state.policy && state.policy.allow_custom_models ? $("custom-model").value.trim() : "";
  return custom || $("model").value;
}

async function saveKey(event) {
  event.preventDefault();
  const input = $("api-key");
  const { provider } = detectProvider(input.value, state.catalog);
  if (!provider || state.busy) return;
  const model = chosenModel();
  const updating = state.updating;
  state.busy = true;
  $("save").disabled = true;
  $("key-form").setAttribute("aria-busy", "true");
  flash(`Checking the key with ${providerName(provider)}\u2026`, "muted");
  try {
    const pub = await api("GET", "/v1/public-key");
    const requestId = crypto.randomUUID();
    const sealed = await sealForConfigure(input.value.trim(), pub.public_key, {
      account: state.account, scope: state.scope, requestId,
    });
    const body = { sealed_key: sealed, kid: pub.kid, provider, request_id: requestId };
    if (model) body.model = model;
    const reply = await api("POST", `${scopePath(state.scope)}/keys`, body);
    input.value = "";
    hideKey();
    $("custom-model").value = "";
    stopUpdate();
    await refresh().catch(() => {});
    flash(`${providerName(reply.provider)} key ${updating ? "updated" : "saved"}: ${reply.hint}, ` +
      `model ${reply.model}.`);
  } catch (err) {
    // A rejected key changes nothing: the stored key (if any) stays in place.
    const kept = updating ? ` Your saved key ${updating.hint} is unchanged.` : "";
    flash(`Key not saved: ${err.message.replace(/\.$/, "")}.${kept}`, "error");
    input.focus();
  } finally {
    state.busy = false;
    $("key-form").setAttribute("aria-busy", "false");
    renderDetection();
  }
}

function hideKey() {
  $("api-key").type = "password";
  $("eye").setAttribute("aria-pressed", "false");
  $("eye").textContent = "Show key";
}

function toggleEye() {
  const show = $("api-key").type === "password";
  $("api-key").type = show ? "text" : "password";
  $("eye").setAttribute("aria-pressed", String(show));
  $("eye").textContent = show ? "Hide key" : "Show key";
}

function startUpdate(key) {
  state.updating = key;
  $("add-title").textContent = `Update your ${providerName(key.provider)} key`;
  $("form-help").textContent =
    `The new key is checked with ${providerName(key.provider)} first; ${key.hint} stays until it passes.`;
  $("cancel-update").hidden = false;
  $("api-key").value = "";
  renderDetection();
  renderModels(state, key.provider, key.model);
  $("api-key").focus();
}

function stopUpdate() {
  state.updating = null;
  $("add-title").textContent = "Add a key";
  $("form-help").textContent = "The key is checked with the provider before it is saved.";
  $("cancel-update").hidden = true;
}

// ---- keys, switches, agents -----------------------------------------------------------

function confirmDelete(key) {
  const dialog = $("confirm-delete");
  $("confirm-text").textContent = `The ${providerName(key.provider)} key ${key.hint} will be ` +
    "deleted. Requests then use your next key or platform credits. This cannot be undone.";
  dialog.returnValue = "";
  dialog.onclose = async () => {
    if (dialog.returnValue !== "delete") {
      flash("Nothing deleted.", "muted");
      return;
    }
    try {
      await api("DELETE", `${scopePath(state.scope)}/keys/${key.provider}`);
      if (state.updating && state.updating.provider === key.provider) stopUpdate();
      await refresh();
      flash(`${providerName(key.provider)} key deleted.`);
    } catch (err) {
      flash(err.message, "error");
    }
    $("api-key").focus();
  };
  dialog.showModal();
  $("confirm-cancel").focus();
}

async function setKeyEnabled(key, enabled) {
  try {
    await api("PUT", `${scopePath(state.scope)}/keys/${key.provider}/enabled`, { enabled });
    await refresh();
    flash(`${providerName(key.provider)} key ${enabled ? "enabled" : "disabled"}.`);
    const again = document.querySelector(`#key-list li[data-provider="${key.provider}"] button`);
    if (again) again.focus();
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

async function setByok(on) {
  const saved = await patchSettings(state.scope, { byok_enabled: on }, on
    ? "BYOK is on: your keys are used and credits are paused."
    : "BYOK is off: your keys are kept, requests use platform credits.");
  if (saved) state.settings = saved;
  await refresh();
}

async function setActiveProvider(provider) {
  const change = { active_provider: provider || null };
  const label = provider ? providerName(provider) : "whichever the request asks for";
  if (await patchSettings(state.scope, change, `Active provider: ${label}.`)) await refresh();
}

async function setAgentRoute(scope, route) {
  const saved = await patchSettings(scope, { route }, `Agent ${scope.id} now routes: ${route}.`);
  const agent = state.agents.find((a) => a.scope.id === scope.id);
  if (saved && agent) agent.settings = saved;
}

// ---- loading --------------------------------------------------------------------------

async function refresh() {
  const [keys, settings, balance, usage] = await Promise.all([
    api("GET", `${scopePath(state.scope)}/keys`),
    api("GET", `${scopePath(state.scope)}/settings`),
    api("GET", `${accountPath(state.account)}/balance`),
    api("GET", `/v1/usage?scope=${encodeURIComponent(scopeText(state.scope))}`),
  ]);
  state.keys = keys.keys;
  state.settings = settings;
  renderKeys(state, actions);
  renderSettings(state);
  renderBalance(state, balance);
  renderUsage(usage);
}

async function boot() {
  if (!readToken()) {
    flash("This page needs a settings link from your product.", "error");
    $("app").setAttribute("aria-busy", "false");
    return;
  }
  try {
    const me = await api("GET", "/v1/whoami");
    state.account = me.account;
    // An end-user token names its scope first, then the agent scopes it may route.
    const [own, ...rest] = me.scopes.map(parseScope);
    if (!own) throw new Error("This token names no scope.");
    state.scope = own;
    $("scope-line").textContent = `Keys for ${own.type} ${own.id}`;
    if (own.type !== "account" && own.type !== "platform") {
      // A narrower scope overrides the wider ones only while it has a key of its own.
      $("no-keys").textContent =
        `No key saved for this ${own.type}: its requests use your account-level key, if you have one.`;
    }
    const [catalog, policy] = await Promise.all([
      api("GET", "/v1/catalog"),
      api("GET", `${accountPath(state.account)}/policy`),
    ]);
    state.catalog = Object.fromEntries(catalog.providers.map((p) => [p.provider, p]));
    state.policy = policy;
    await refresh();
    state.agents = await Promise.all(
      rest.filter((s) => s.type === "agent").map(async (scope) => ({
        scope, settings: await api("GET", `${scopePath(scope)}/settings`),
      })),
    );
    renderAgents(state, setAgentRoute);
    renderDetection();
    document.body.dataset.ready = "true";
  } catch (err) {
    flash(err.tokenRefused ? "This settings link has expired. Open it again from your product."
      : err.message, "error");
    for (const node of document.querySelectorAll("input, select, button")) node.disabled = true;
  } finally {
    $("app").setAttribute("aria-busy", "false");
  }
}

$("api-key").addEventListener("input", renderDetection);
$("eye").addEventListener("click", toggleEye);
$("key-form").addEventListener("submit", saveKey);
$("cancel-update").addEventListener("click", () => { stopUpdate(); renderDetection(); });
$("byok-enabled").addEventListener("change", (e) => setByok(e.target.checked));
$("active-provider").addEventListener("change", (e) => setActiveProvider(e.target.value));
boot();
