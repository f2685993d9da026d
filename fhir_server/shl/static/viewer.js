// SMART Health Link viewer (HL7 SHC&L IG STU1, links-specification "Viewer" steps 1-4).
// The link lives after '#', which browsers never send to a server; every file is decrypted here with
// WebCrypto (AES-256-GCM, JWE alg "dir") and inflated with DecompressionStream('deflate-raw') when zip=DEF.
const RECIPIENT = "SMART Health Link viewer";
const $ = (id) => document.getElementById(id);

function status(text, warning = false) {
  $("status").textContent = text;
  $("status").className = warning ? "warning" : "";
}

function b64urlBytes(text) {
  const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export function parseLink(fragment) {
  const at = fragment.indexOf("shlink:/");
  if (at < 0) throw new Error("No shlink:/ in this address");
  const payload = JSON.parse(new TextDecoder().decode(b64urlBytes(fragment.slice(at + 8))));
  if (typeof payload.url !== "string") throw new Error("The link has no url");
  const key = b64urlBytes(payload.key || "");
  if (key.length !== 32) throw new Error("The link key is not 32 bytes");
  if ((payload.v || 1) > 1) throw new Error(`Link version ${payload.v} is not supported`);
  return { ...payload, keyBytes: key, flag: payload.flag || "" };
}

async function inflateRaw(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export async function decryptJwe(jwe, keyBytes) {
  const [protectedHeader, encryptedKey, iv, ciphertext, tag] = jwe.trim().split(".");
  const header = JSON.parse(new TextDecoder().decode(b64urlBytes(protectedHeader)));
  if (header.alg !== "dir" || header.enc !== "A256GCM" || encryptedKey !== "") throw new Error("Unsupported JWE");
  const key = await crypto.subtle.importKey("raw", keyBytes, "AES-GCM", false, ["decrypt"]);
  const sealed = new Uint8Array([...b64urlBytes(ciphertext), ...b64urlBytes(tag)]);
  const plain = new Uint8Array(await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: b64urlBytes(iv), additionalData: new TextEncoder().encode(protectedHeader) },
    key, sealed));
  const data = header.zip === "DEF" ? await inflateRaw(plain) : plain;
  return { header, text: new TextDecoder().decode(data) };
}

async function fetchFiles(link, passcode) {
  if (link.flag.includes("U")) {
    const url = new URL(link.url);
    url.searchParams.set("recipient", RECIPIENT);
    const response = await fetch(url);
    if (!response.ok) throw new Error(response.status === 404 ? "This link is no longer active" : `Error ${response.status}`);
    return [{ contentType: "application/fhir+json", jwe: await response.text() }];
  }
  const body = { recipient: RECIPIENT };
  if (passcode !== undefined) body.passcode = passcode;
  const response = await fetch(link.url, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (response.status === 401) {
    const answer = await response.json();
    const error = new Error(`Wrong passcode: ${answer.remainingAttempts} attempts left`);
    error.passcode = true;
    throw error;
  }
  if (response.status === 404) throw new Error("This link is no longer active (expired, revoked or used up)");
  if (response.status === 429) throw new Error("Too many requests: try again later");
  if (!response.ok) throw new Error(`The link's server answered ${response.status}`);
  const manifest = await response.json();
  return Promise.all(manifest.files.map(async (file) => ({
    contentType: file.contentType,
    jwe: file.embedded ?? await (await fetch(file.location)).text(),
  })));
}

const text = (tag, content, className) => {
  const node = document.createElement(tag);
  node.textContent = content;
  if (className) node.className = className;
  return node;
};

function humanName(patient) {
  const name = (patient.name || [])[0] || {};
  return name.text || [...(name.given || []), name.family].filter(Boolean).join(" ") || `Patient/${patient.id}`;
}

function studyUid(study) {
  const id = (study.identifier || []).find((i) => i.system === "urn:dicom:uid");
  return id ? id.value.replace(/^urn:oid:/, "") : null;
}

function render(bundle, access) {
  const resources = (bundle.entry || []).map((e) => e.resource);
  const byRef = new Map(resources.map((r) => [`${r.resourceType}/${r.id}`, r]));
  const patient = resources.find((r) => r.resourceType === "Patient");
  if (patient) {
    const section = $("patient");
    section.replaceChildren(text("h2", humanName(patient), "patient-name"));
    if (patient.birthDate) section.append(text("p", `Born ${patient.birthDate}`));
    section.hidden = false;
  }
  const groups = new Map();
  for (const study of resources.filter((r) => r.resourceType === "ImagingStudy")) {
    const endpoints = [...(study.endpoint || []), ...(study.series || []).flatMap((s) => s.endpoint || [])]
      .map((ref) => byRef.get(ref.reference)).filter(Boolean);
    const organization = endpoints.map((e) => byRef.get(e.managingOrganization?.reference)).find(Boolean);
    const hospital = organization?.name || "Unknown hospital";
    if (!groups.has(hospital)) groups.set(hospital, []);
    groups.get(hospital).push({ study, endpoint: endpoints[0] });
  }
  const container = $("studies");
  container.replaceChildren();
  for (const [hospital, studies] of groups) {
    const box = document.createElement("div");
    box.className = "hospital";
    box.append(text("h3", hospital, "hospital-name"));
    for (const { study, endpoint } of studies) {
      const item = document.createElement("div");
      item.className = "study";
      item.dataset.id = study.id;
      const when = study.started ? ` (${study.started.slice(0, 10)})` : "";
      item.append(text("h4", `${study.description || "Imaging study"}${when}`, "study-title"));
      if (access && endpoint) showImages(item, study, endpoint, access);
      box.append(item);
    }
    container.append(box);
  }
  container.hidden = false;
}

function showImages(item, study, endpoint, access) {
  const uid = studyUid(study);
  // The token goes only to the server it was issued for (its `aud`), never to another host.
  if (!uid || new URL(endpoint.address).origin !== new URL(access.aud).origin) return;
  for (const series of study.series || []) {
    const figure = document.createElement("figure");
    figure.className = "series";
    const img = document.createElement("img");
    img.alt = `Series ${series.number ?? ""} ${series.modality?.code ?? ""}`.trim();
    figure.append(img, text("figcaption", series.description || img.alt));
    item.append(figure);
    const url = `${endpoint.address}/studies/${uid}/series/${series.uid}/rendered`;
    fetch(url, { headers: { Authorization: `Bearer ${access.access_token}`, Accept: "image/png" } })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
      .then((blob) => { img.src = URL.createObjectURL(blob); img.classList.add("rendered"); })
      .catch(() => { img.alt += " (image unavailable)"; });
  }
}

async function open(link, passcode) {
  status("Fetching…");
  const files = await fetchFiles(link, passcode);
  let bundle = null;
  let access = null;
  for (const file of files) {
    const { header, text: content } = await decryptJwe(file.jwe, link.keyBytes);
    const type = (header.cty || file.contentType).split(";")[0];
    if (type === "application/fhir+json") bundle = JSON.parse(content);
    else if (type === "application/smart-api-access") access = JSON.parse(content);
  }
  if (!bundle) throw new Error("The link holds no FHIR content");
  render(bundle, access);
  status(access ? "Shared imaging, with image access" : "Shared imaging");
  if (access) offerImageViewer(bundle, access);
}

// The bundled diagnostic viewer (/viewer/) of the server that issued the link's token, opened in this tab
// with that short-lived token (no account): only when the viewer is on the token's own server.
function offerImageViewer(bundle, access) {
  if (new URL(access.aud).origin !== location.origin) return;
  const uids = (bundle.entry || []).map((e) => e.resource)
    .filter((r) => r.resourceType === "ImagingStudy").map(studyUid).filter(Boolean);
  if (!uids.length) return;
  const button = document.createElement("button");
  button.type = "button";
  button.id = "open-viewer";
  button.textContent = "Open images in the viewer";
  button.addEventListener("click", () => {
    const expiresAt = Date.now() / 1000 + Number(access.expires_in || 0);
    sessionStorage.setItem("fhir-viewer.link-token", JSON.stringify({ accessToken: access.access_token, expiresAt }));
    location.assign(`/viewer/viewer?StudyInstanceUIDs=${uids.map(encodeURIComponent).join(",")}`);
  });
  $("studies").before(button);
}

async function main() {
  let link;
  try {
    link = parseLink(decodeURIComponent(location.hash));
  } catch (error) {
    status(error.message, true);
    return;
  }
  if (link.label) { $("label").textContent = link.label; $("label").hidden = false; }
  if (link.exp && link.exp * 1000 < Date.now()) status("This link may have expired; trying anyway", true);
  if (!link.flag.includes("P")) {
    open(link).catch((error) => status(error.message, true));
    return;
  }
  status("Enter the passcode you were given with this link");
  $("passcode-form").hidden = false;
  $("passcode-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("passcode-error").textContent = "";
    open(link, $("passcode").value)
      .then(() => { $("passcode-form").hidden = true; })
      .catch((error) => {
        if (error.passcode) { $("passcode-error").textContent = error.message; status("Passcode needed"); }
        else { $("passcode-form").hidden = true; status(error.message, true); }
      });
  });
}

main();
