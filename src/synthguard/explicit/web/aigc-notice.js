// <aigc-notice wording="AI生成" position="top|bottom|inline">: a persistent explicit AI-generation notice
// (GB 45438 §5, interactive interfaces). Dependency-free; renders in an open shadow root whose !important
// :host rules win over the page's own CSS. A wording without both an AI element and a generation element is
// refused: the default is shown instead and a console warning names the problem.
(() => {
  "use strict";

  const DEFAULT_WORDING = "AI生成";
  const POSITIONS = ["top", "bottom", "inline"];
  const MAX_LENGTH = 64;
  // The same rule as synthguard.explicit.wording: "AI" must not touch a Latin letter or digit.
  const AI_TOKEN = /(?<![A-Za-z0-9])AI(?![A-Za-z0-9])/;
  const AI_WORDS = /\bartificial[\s-]+intelligence\b/i;
  const GEN_WORDS = /\b(generat|synthe[sz]i[sz]|synthetic)\w*/i;
  const BAD_CHARS = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}]/u;

  /** Every reason `text` is not a compliant explicit-label wording (empty when it complies). */
  function wordingProblems(text) {
    if (typeof text !== "string" || !text.trim()) return ["is empty"];
    const problems = [];
    if ([...text].length > MAX_LENGTH) problems.push(`is longer than ${MAX_LENGTH} characters`);
    if (BAD_CHARS.test(text)) problems.push("contains control, format or unassigned characters");
    const t = text.normalize("NFKC");
    const zhAi = t.includes("人工智能") || AI_TOKEN.test(t);
    const zhGen = t.includes("生成") || t.includes("合成");
    const enAi = AI_TOKEN.test(t) || AI_WORDS.test(t);
    const enGen = GEN_WORDS.test(t);
    if (!(zhAi && zhGen) && !(enAi && enGen)) {
      if (!zhAi && !enAi) problems.push('has no AI element ("人工智能", "AI" or "artificial intelligence")');
      if (!zhGen && !enGen) problems.push('has no generation element ("生成", "合成", or English "generated")');
      if ((zhAi || enAi) && (zhGen || enGen)) problems.push("mixes a Chinese element with an English one");
    }
    return problems;
  }

  const STYLE = `
    :host {
      all: initial !important;
      display: block !important;
      visibility: visible !important;
      opacity: 1 !important;
      position: relative !important;
      z-index: 2147483647 !important;
      box-sizing: border-box !important;
      width: auto !important;
      min-width: 6em !important;
      height: auto !important;
      min-height: 1.6em !important;
      margin: 0 !important;
      overflow: visible !important;
      clip-path: none !important;
      transform: none !important;
      filter: none !important;
      mix-blend-mode: normal !important;
      pointer-events: auto !important;
      font: 600 15px/1.5 system-ui, "PingFang SC", "Noto Sans CJK SC", "Microsoft YaHei", sans-serif !important;
    }
    :host([position="top"]) { position: sticky !important; top: 0 !important; }
    :host([position="bottom"]) { position: sticky !important; bottom: 0 !important; }
    .note {
      display: flex;
      align-items: center;
      gap: 0.5em;
      padding: 0.3em 0.75em;
      color: #111111;
      background: #fff4c2;
      border: 2px solid #5c4700;
      border-radius: 6px;
    }
    .mark {
      flex: none;
      width: 0.7em;
      height: 0.7em;
      border-radius: 50%;
      background: currentColor;
    }
    @media (prefers-color-scheme: dark) {
      .note { color: #ffffff; background: #1c1c1c; border-color: #ffd84d; }
    }
    @media (forced-colors: active) {
      .note { color: CanvasText; background: Canvas; border-color: CanvasText; }
      .mark { background: CanvasText; }
    }
  `;

  class AigcNotice extends HTMLElement {
    static observedAttributes = ["wording", "position"];

    #text;
    #note;
    #shown = DEFAULT_WORDING;
    #compliant = true;
    #warned = new Set();

    constructor() {
      super();
      const root = this.attachShadow({ mode: "open" });
      const style = document.createElement("style");
      style.textContent = STYLE;
      this.#note = document.createElement("div");
      this.#note.className = "note";
      this.#note.setAttribute("role", "note");
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.setAttribute("aria-hidden", "true");
      this.#text = document.createElement("span");
      this.#text.className = "text";
      this.#note.append(mark, this.#text);
      root.append(style, this.#note);
      this.#text.textContent = DEFAULT_WORDING;
    }

    connectedCallback() {
      this.#render();
    }

    /** The wording actually shown (the default when the attribute's wording was refused). */
    get shownWording() {
      return this.#shown;
    }

    /** Whether the wording attribute (or its absence) was accepted. */
    get compliant() {
      return this.#compliant;
    }

    attributeChangedCallback() {
      this.#render();
    }

    #render() {
      const asked = this.getAttribute("wording");
      const problems = asked === null ? [] : wordingProblems(asked);
      this.#compliant = problems.length === 0;
      this.#shown = this.#compliant && asked !== null ? asked : DEFAULT_WORDING;
      if (!this.#compliant && !this.#warned.has(asked)) {
        this.#warned.add(asked);
        console.warn(
          `aigc-notice: refused wording ${JSON.stringify(asked)} (${problems.join("; ")}); ` +
            `showing ${JSON.stringify(DEFAULT_WORDING)} instead`,
        );
      }
      const position = this.getAttribute("position");
      if (position !== null && !POSITIONS.includes(position) && !this.#warned.has(`position:${position}`)) {
        this.#warned.add(`position:${position}`);
        console.warn(`aigc-notice: unknown position ${JSON.stringify(position)}; use ${POSITIONS.join(", ")}`);
      }
      this.#text.textContent = this.#shown;
      this.#note.setAttribute("aria-label", this.#shown);
      this.#note.setAttribute("lang", /[\u3400-\u9fff]/.test(this.#shown) ? "zh-CN" : "en");
    }
  }

  AigcNotice.wordingProblems = wordingProblems;
  AigcNotice.DEFAULT_WORDING = DEFAULT_WORDING;
  if (!customElements.get("aigc-notice")) customElements.define("aigc-notice", AigcNotice);
})();
