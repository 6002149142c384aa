// <byok-settings base="https://byok.example.com" token="..."></byok-settings>
// Embeds the key-settings page in an iframe. The short-lived end-user token travels in the
// URL fragment, which browsers never send to a server or put in a Referer header.
class ByokSettings extends HTMLElement {
  connectedCallback() {
    const base = (this.getAttribute("base") || "").replace(/\/$/, "");
    const token = this.getAttribute("token") || "";
    const frame = document.createElement("iframe");
    frame.title = this.getAttribute("title") || "LLM API keys";
    frame.src = `${base}/settings#token=${encodeURIComponent(token)}`;
    frame.style.border = "0";
    frame.style.width = "100%";
    frame.style.minHeight = this.getAttribute("height") || "900px";
    frame.referrerPolicy = "no-referrer";
    this.replaceChildren(frame);
    this.removeAttribute("token");
  }
}
customElements.define("byok-settings", ByokSettings);
