// A script that fails in the init context and prints an env secret first.
console.error("key is " + __ENV.API_KEY);
throw new Error("boom in init");
