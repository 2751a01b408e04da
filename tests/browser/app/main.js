// The Hydrogen web client, whole (login, session, room list, room creation, invites, timeline,
// composer), from the hydrogen-view-sdk package: this file only starts it the way Hydrogen's own
// web entry point does. The homeserver the login form starts with comes from the page's query
// string (?hs=...), so that nothing but the server under test is ever contacted.
import {
  Platform,
  RootViewModel,
  FeatureSet,
  createNavigation,
  createRouter,
} from "hydrogen-view-sdk";
import downloadSandbox from "hydrogen-view-sdk/download-sandbox.html?url";
import worker from "hydrogen-view-sdk/main.js?url";
import olmWasm from "@matrix-org/olm/olm.wasm?url";
import olmJs from "@matrix-org/olm/olm.js?url";
import olmLegacyJs from "@matrix-org/olm/olm_legacy.js?url";
import "hydrogen-view-sdk/theme-element-light.css";

const assetPaths = {
  downloadSandbox,
  worker,
  olm: { wasm: olmWasm, legacyBundle: olmLegacyJs, wasmBundle: olmJs },
  serviceWorker: "sw.js",
};

async function start() {
  const homeserver = new URLSearchParams(window.location.search).get("hs") ?? "";
  const platform = new Platform({
    container: document.body,
    assetPaths,
    config: { defaultHomeServer: homeserver },
    options: { development: false },
  });
  await platform.init();
  const features = await FeatureSet.load(platform.settingsStorage);
  const navigation = createNavigation();
  platform.setNavigation(navigation);
  const urlRouter = createRouter({ navigation, history: platform.history });
  urlRouter.attach();
  const viewModel = new RootViewModel({ platform, urlRouter, navigation, features });
  await viewModel.load();
  platform.createAndMountRootView(viewModel);
  document.body.dataset.hydrogen = "mounted";
}

start().catch((error) => {
  document.body.dataset.hydrogen = "failed";
  document.body.append(`Hydrogen failed to start: ${error?.stack ?? error}`);
});
