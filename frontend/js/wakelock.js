// Keep a wall screen from sleeping (Screen Wake Lock) and say in the header whether it worked:
// a screen that sleeps hides the alarms, so staff must be able to see that it might.

export function keepScreenAwake(indicator) {
  const show = (held, why) => {
    indicator.dataset.wakeLock = held ? "held" : "none";
    indicator.textContent = held ? "☀ screen stays on" : "☾ screen may sleep";
    indicator.title = held
      ? "This browser holds a screen wake lock: the display will not sleep while this page is shown."
      : `The display may sleep and hide alarms: ${why}. Set the device's own sleep timer to never.`;
  };
  if (!("wakeLock" in navigator)) {
    show(false, "this browser cannot keep the screen on (it needs HTTPS and a current browser)");
    return;
  }
  let sentinel = null;
  const request = async () => {
    if (sentinel && !sentinel.released) return;
    try {
      sentinel = await navigator.wakeLock.request("screen");
      show(true);
      sentinel.addEventListener("release", () => show(false, "the wake lock was released"));
    } catch (err) {
      console.info("screen wake lock not granted", err.message);
      show(false, `the browser refused the wake lock (${err.name || "error"})`);
    }
  };
  request();
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") request();
  });
  // A refused request can succeed after the first click (some browsers want a user gesture).
  document.addEventListener("pointerdown", () => {
    if (!sentinel || sentinel.released) request();
  });
}
