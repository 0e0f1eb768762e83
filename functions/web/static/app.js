// The chat page: asks for the API key, lists the models it may read, streams answers with their sources.
// Every text that comes from the API (answers, titles, snippets) is set with textContent, never as HTML.
"use strict";

(() => {
  const KEY = "cdgpt.key"; // sessionStorage: this tab only, gone when it closes
  const MODEL = "cdgpt.model";
  const CONVERSATION = "cdgpt.conversation";
  const $ = (id) => document.getElementById(id);
  const api = (path) => new URL(path, document.baseURI); // the API is beside the page (/ or /Prod/)

  let turns = 0;

  function status(text, isError = false) {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function authHeaders() {
    return { Authorization: "Bearer " + sessionStorage.getItem(KEY) };
  }

  function conversationId() {
    let id = sessionStorage.getItem(CONVERSATION);
    if (!id) {
      // 128 random bits as hex (crypto.randomUUID needs HTTPS or localhost; this works on any intranet host)
      id = Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
      sessionStorage.setItem(CONVERSATION, id);
    }
    return id;
  }

  // A failure's message from the API's envelope, or the HTTP status when the body is not one.
  async function failureOf(response) {
    try {
      const body = await response.json();
      if (body && typeof body.msg === "string") return body.msg;
    } catch (_) {
      // not JSON
    }
    return "HTTP " + response.status;
  }

  // The conversation on screen and kept for the next question: gone with the key, so the next person to
  // sign in on this tab neither sees nor continues it.
  function forgetConversation() {
    sessionStorage.removeItem(CONVERSATION);
    $("turns").replaceChildren();
  }

  function showLogin(message) {
    sessionStorage.removeItem(KEY);
    forgetConversation();
    $("session").hidden = true;
    $("chat").hidden = true;
    $("key-form").hidden = false;
    $("key").focus();
    status(message || "", Boolean(message));
  }

  async function loadModels() {
    status("Loading models…");
    let response;
    try {
      response = await fetch(api("models"), { headers: authHeaders() });
    } catch (err) {
      status("The API cannot be reached: " + err.message, true);
      return;
    }
    if (response.status === 401 || response.status === 403) {
      showLogin(await failureOf(response));
      return;
    }
    if (!response.ok) {
      status(await failureOf(response), true);
      return;
    }
    const models = ((await response.json()).data.models || []).filter((m) => m.status === "ready");
    const select = $("model");
    select.replaceChildren();
    for (const model of models) {
      const option = element("option", "", model.model_name + " (v" + model.version + ", " + model.documents + " documents)");
      option.value = model.model_name;
      select.append(option);
    }
    const remembered = sessionStorage.getItem(MODEL);
    if (models.some((m) => m.model_name === remembered)) select.value = remembered;
    $("key-form").hidden = true;
    $("session").hidden = false;
    $("chat").hidden = false;
    $("ask").disabled = models.length === 0;
    status(models.length ? "" : "No trained model can be read with this key.", models.length === 0);
    $("question").focus();
  }

  // The answer's text with each [n] made a link to source n of this turn (when there is one).
  function renderAnswer(target, text, sources, turnId) {
    target.replaceChildren();
    let last = 0;
    for (const match of text.matchAll(/\[(\d{1,3})\]/g)) {
      const n = Number(match[1]);
      if (n < 1 || n > sources.length) continue;
      target.append(document.createTextNode(text.slice(last, match.index)));
      const link = element("a", "cite", "[" + n + "]");
      link.href = "#" + turnId + "-source-" + n;
      link.title = sources[n - 1].title;
      target.append(link);
      last = match.index + match[0].length;
    }
    target.append(document.createTextNode(text.slice(last)));
  }

  function webLink(url) {
    return typeof url === "string" && /^https?:\/\//i.test(url) ? url : null;
  }

  function renderSources(list, sources, turnId) {
    list.replaceChildren();
    sources.forEach((source, i) => {
      const item = element("li", "source");
      item.id = turnId + "-source-" + (i + 1);
      const href = webLink(source.url);
      const title = element(href ? "a" : "span", "title", source.title || source.source);
      if (href) {
        title.href = href;
        title.target = "_blank";
        title.rel = "noopener noreferrer";
      }
      item.append(title);
      const where = [source.source];
      if (source.page) where.push("page " + source.page);
      item.append(element("span", "where", " — " + where.join(", ")));
      item.append(element("blockquote", "snippet", source.snippet));
      list.append(item);
    });
  }

  function usageText(usage) {
    if (!usage) return "";
    const parts = [];
    if (usage.llm_model) parts.push(usage.llm_model + ": " + usage.prompt_tokens + " + " + usage.completion_tokens + " tokens");
    if (usage.embedding_tokens !== null && usage.embedding_tokens !== undefined) parts.push("embedding: " + usage.embedding_tokens + " tokens");
    return parts.join(" · ");
  }

  // Server-sent events from a fetch body (EventSource cannot POST): calls onEvent(name, data) for each.
  async function readEvents(response, onEvent) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder("utf-8"); // stream mode: a character split between chunks is kept whole
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      buffer += decoder.decode(value || new Uint8Array(), { stream: !done });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let name = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (line.startsWith("event:")) name = line.slice(6).trim();
          else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
        }
        if (data.length) onEvent(name, JSON.parse(data.join("\n")));
      }
      if (done) return;
    }
  }

  async function ask(question) {
    const turnId = "turn-" + ++turns;
    const turn = element("li", "turn");
    turn.id = turnId;
    turn.append(element("p", "question", question));
    const answer = element("div", "answer pending");
    const sources = element("ol", "sources");
    const meta = element("p", "meta");
    turn.append(answer, sources, meta);
    $("turns").append(turn);
    turn.scrollIntoView({ block: "end" });

    const model = $("model").value;
    sessionStorage.setItem(MODEL, model);
    const response = await fetch(api("chat"), {
      method: "POST",
      headers: { ...authHeaders(), "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify({ model_name: model, question, conversation_id: conversationId(), stream: true }),
    });
    if (response.status === 401 || response.status === 403) {
      showLogin(await failureOf(response));
      return;
    }
    if (!response.ok) {
      answer.textContent = await failureOf(response);
      answer.className = "answer error";
      return;
    }
    let written = "";
    let ended = false;
    await readEvents(response, (name, data) => {
      ended = ended || name === "done" || name === "error";
      if (name === "token") {
        written += data.text;
        answer.textContent = written;
      } else if (name === "done") {
        const result = data.data;
        renderAnswer(answer, result.answer, result.sources, turnId);
        renderSources(sources, result.sources, turnId);
        meta.textContent = usageText(result.usage);
        answer.className = "answer done";
      } else if (name === "error") {
        answer.append(element("span", "error", " " + data.msg));
        answer.className = "answer error";
      }
    });
    if (!ended) {  // the connection closed before the answer was whole: what came is not shown as one
      answer.append(element("span", "error", " The answer broke off: ask again."));
      answer.className = "answer error";
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("key-form").addEventListener("submit", (event) => {
      event.preventDefault();
      sessionStorage.setItem(KEY, $("key").value.trim());
      $("key").value = "";
      loadModels();
    });
    $("forget-key").addEventListener("click", () => showLogin("The key was forgotten."));
    $("new-conversation").addEventListener("click", () => {
      forgetConversation();
      $("question").focus();
    });
    $("ask-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const question = $("question").value.trim();
      if (!question) return;
      $("question").value = "";
      $("ask").disabled = true;
      try {
        await ask(question);
      } catch (err) {
        status("The answer failed: " + err.message, true);
      } finally {
        $("ask").disabled = false;
        $("question").focus();
      }
    });
    $("question").addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter breaks the line; never while an input method (pinyin) is composing
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        $("ask-form").requestSubmit();
      }
    });
    if (sessionStorage.getItem(KEY)) loadModels();
    else showLogin();
  });
})();
